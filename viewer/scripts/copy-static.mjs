// Copies the hand-written static files (HTML, CSS) next to the compiled scripts in the API's wwwroot.
import { cpSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, "..", "static");
const target = join(here, "..", "..", "src", "Api", "wwwroot");
mkdirSync(target, { recursive: true });
cpSync(source, target, { recursive: true });
console.log(`viewer: static files copied to ${target}`);
