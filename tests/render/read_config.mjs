// Reads wrangler configurations with the pinned wrangler's own reader (unstable_readConfig: the parse,
// normalisation and validation every wrangler command starts with), many in one Node process.
// argv[2]: the wrangler package folder; argv[3]: a JSON file with [{"config": path, "env": name|null}].
// Prints one JSON array: [{"ok": bool, "error": string|null, "kv_namespaces": [...]|null}].
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(process.argv[2] + "/");
const wrangler = require("wrangler");
const cases = JSON.parse(readFileSync(process.argv[3], "utf8"));
const results = [];
for (const { config, env } of cases) {
  try {
    const read = wrangler.unstable_readConfig({ config, env: env ?? undefined }, { hideWarnings: true });
    results.push({ ok: true, error: null, kv_namespaces: read.kv_namespaces ?? [] });
  } catch (error) {
    results.push({ ok: false, error: String(error?.message ?? error), kv_namespaces: null });
  }
}
process.stdout.write("\n@@RESULTS@@" + JSON.stringify(results) + "\n");
