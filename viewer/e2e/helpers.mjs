// Shared by the end-to-end tests: the service from Node, headless Chromium, tolerant comparisons, screenshots.

import assert from "node:assert/strict";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const BASE = (process.env.RECON_URL ?? "http://127.0.0.1:5057").replace(/\/$/, "");
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const OUT = join(dirname(fileURLToPath(import.meta.url)), "..", "test-output");
export const PROMPT = "In the beginning God created the heaven and the earth.";
export const TIMEOUT = Number(process.env.E2E_TIMEOUT_MS ?? 60_000);

// ------------------------------------------------------------------ the service, from Node

export async function post(path, body) {
  const response = await fetch(BASE + path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = { raw: text };
  }
  return { status: response.status, json };
}

export async function postOk(path, body) {
  const { status, json } = await post(path, body);
  assert.equal(status, 200, `${path} answered ${status}: ${JSON.stringify(json).slice(0, 400)}`);
  return json;
}

export async function getJson(path) {
  const response = await fetch(BASE + path);
  assert.equal(response.status, 200, `${path} answered ${response.status}`);
  return response.json();
}

/** Decodes a float32 tensor payload (base64, little-endian). */
export function decode(payload) {
  assert.equal(payload.dtype, "float32");
  const bytes = Buffer.from(payload.data, "base64");
  const count = payload.shape.reduce((a, b) => a * b, 1);
  assert.equal(bytes.length, count * 4, "payload byte length");
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) values[i] = bytes.readFloatLE(i * 4);
  return { shape: payload.shape, values };
}

export function assertClose(actual, expected, what) {
  const tolerance = 1e-6 + 1e-5 * Math.abs(expected);
  assert.ok(Number.isFinite(actual), `${what}: page shows ${actual}`);
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: page shows ${actual}, API says ${expected}`);
}

/** What the page shows for a value with three decimals. */
export function threeDecimals(x) {
  const text = x.toFixed(3);
  return text === "-0.000" ? "0.000" : text;
}

/** Waits until the service is ready (weights loaded), up to 120 s. */
export async function waitForService() {
  const deadline = Date.now() + 120_000;
  let last = "no answer";
  for (;;) {
    try {
      const r = await fetch(BASE + "/health/ready");
      if (r.ok) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      // Not listening yet, or a port that fetch and Chromium refuse outright (5060, 6000, ...: the Fetch standard's bad ports).
      last = String(e.cause?.message ?? e.message);
      if (last === "bad port") throw new Error(`${BASE}: browsers and fetch refuse this port ("bad port"); run the service on another one`);
    }
    if (Date.now() > deadline) throw new Error(`service at ${BASE} not ready after 120 s (last: ${last})`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

// ------------------------------------------------------------------ the browser

/** A headless Chromium with one page; collects script errors in `errors` (HTTP failures while `expectingHttpError`). */
export async function openBrowser() {
  // launch() gives Chromium a fresh temporary profile and removes it on close.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const session = { browser, context, page: undefined, errors: [], expectingHttpError: false };
  session.page = await newPage(session);
  return session;
}

export async function newPage(session) {
  const page = await session.context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("pageerror", (e) => session.errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !(session.expectingHttpError && m.text().startsWith("Failed to load resource"))) session.errors.push(`console: ${m.text()}`);
  });
  return page;
}

/** Screenshots named `<prefix>-NN-<name>.png`; the prefix's old ones are removed first. */
export function screenshots(prefix) {
  mkdirSync(OUT, { recursive: true });
  for (const f of readdirSync(OUT)) if (f.startsWith(`${prefix}-`) && f.endsWith(".png")) rmSync(join(OUT, f));
  let shot = 0;
  return async (page, name) => {
    shot += 1;
    await page.screenshot({ path: join(OUT, `${prefix}-${String(shot).padStart(2, "0")}-${name}.png`), fullPage: true });
  };
}

/** Waits until no request of the page is in flight. */
export async function settled(page) {
  await page.waitForFunction(() => document.body.dataset.pending === "0", null, { timeout: TIMEOUT });
}

/** Reads `data-*` attributes of every element matching `selector` (as strings). */
export function readData(page, selector) {
  return page.$$eval(selector, (nodes) => nodes.map((n) => ({ ...n.dataset })));
}

export async function assertNoError(page) {
  assert.equal(await page.isVisible("#error"), false, `unexpected error: ${await page.textContent("#error").catch(() => "")}`);
}

/** Opens `search` (a query string) on the page and waits until it has rendered. */
export async function open(page, search) {
  await page.goto(BASE + "/" + search, { waitUntil: "load" });
  await page.waitForSelector('body[data-ready="true"]');
  await settled(page);
}

/** The JSON bodies of the page's POSTs to `path` while `action` runs. */
export async function requestsDuring(page, path, action) {
  const bodies = [];
  const listener = (request) => {
    if (request.method() === "POST" && new URL(request.url()).pathname === path) bodies.push(JSON.parse(request.postData() ?? "null"));
  };
  page.on("request", listener);
  try {
    await action();
  } finally {
    page.off("request", listener);
  }
  return bodies;
}

/** The token display the page must show for a token's bytes (when the service sends them). */
export function visible(text) {
  let out = "";
  for (const ch of text) {
    if (ch === " ") out += "\u00b7";
    else if (ch === "\n") out += "\u21b5";
    else if (ch === "\t") out += "\u2192";
    else if (ch === "\r") out += "\u240d";
    else if (/[\p{Cc}\p{Cf}\p{Zs}\p{Zl}\p{Zp}]/u.test(ch)) out += `\u27e8U+${ch.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}\u27e9`;
    else out += ch;
  }
  return out;
}
