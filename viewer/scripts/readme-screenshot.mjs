// Takes the README's screenshot of the node table: README "Attribution"'s question (which nodes make the embedded model
// predict " LORD" rather than " king" after "And the"?) as the page shows it, with verifyTopN.
//
//   RECON_URL=http://127.0.0.1:5057 node scripts/readme-screenshot.mjs ../docs/viewer-node-table.png
//
// The picture is the whole page at 1200 px wide; shrink it afterwards (e.g. ImageMagick: -colors 128 PNG8:out.png).

import { BASE, open, openBrowser, postOk, waitForService } from "../e2e/helpers.mjs";

const out = process.argv[2] ?? "viewer-node-table.png";
await waitForService();
const one = async (text) => {
  const { tokens } = await postOk("/v1/tokenize", { text });
  if (tokens.length !== 1) throw new Error(`${JSON.stringify(text)} is ${tokens.length} tokens`);
  return tokens[0];
};
const [target, distractor] = [await one(" LORD"), await one(" king")];
const session = await openBrowser();
try {
  const page = session.page;
  await page.setViewportSize({ width: 1200, height: 800 });
  await open(page, `?prompt=${encodeURIComponent("And the")}&view=attribution&target=${target}&distractor=${distractor}&topk=3&verify=3`);
  await page.waitForSelector("#node-table-table");
  await page.waitForSelector("#verify-table");
  await page.screenshot({ path: out, fullPage: true });
  console.log(`${out}: ${BASE}${new URL(page.url()).search}`);
} finally {
  await session.browser.close();
}
