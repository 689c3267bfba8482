// The storage worker of the local Cloudflare. It serves nothing itself: wrangler/Miniflare's own
// local explorer API (/cdn-cgi/explorer/api/storage/kv/...) on this process reads and writes the
// shared --persist-to storage for any namespace id, and kvstack's API server goes through it.
export default {
  async fetch() {
    return new Response("kvstack local storage worker\n", { headers: { "content-type": "text/plain" } });
  },
};
