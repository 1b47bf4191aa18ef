// Runs the end-to-end test files one after another (each drives its own Chromium against the one service), and
// fails when any of them fails. `npm run e2e`; RECON_URL names the service.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const e2e = join(dirname(fileURLToPath(import.meta.url)), "..", "e2e");
const files = process.argv.length > 2 ? process.argv.slice(2) : ["api-types.test.mjs", "viewer.test.mjs", "attribution.test.mjs"];
let failed = 0;
for (const file of files) {
  const run = spawnSync(process.execPath, ["--test", "--test-reporter=spec", join(e2e, file)], { stdio: "inherit" });
  if (run.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
