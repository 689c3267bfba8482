"""kvstack: Cloudflare Workers KV provisioned with Pulumi and proven after every deploy."""

__version__ = "0.1.0"
