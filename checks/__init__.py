"""kvstack's post-deploy checks: plain pytest functions over small resource objects, behind a pytest plugin.

    pytest checks --kvstack-stack dev [--kvstack-local]      (or `kvstack check --stack dev`)

One module per check kind — :mod:`checks.bindings`, :mod:`checks.tokens`, :mod:`checks.keyspaces`,
:mod:`checks.flows` — each check a function of one resource fixture, run once per resource of the stack.
"""
