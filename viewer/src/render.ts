// DOM helpers: element construction, colour scales, numbers, tokens as coloured text.

import type { TokenText } from "./tokens.js";

type Attrs = Record<string, string | number | boolean | undefined>;

/** Creates an element with attributes (`data-*`, `class`, ...) and children. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/**
 * Background colour for `value` on a symmetric scale of half-width `scale`:
 * positive values orange, negative blue, zero transparent.
 */
export function heatColour(value: number, scale: number): string {
  if (!Number.isFinite(value) || scale <= 0) return "transparent";
  const t = Math.min(1, Math.abs(value) / scale);
  const alpha = (0.08 + 0.87 * t) * (t > 0 ? 1 : 0);
  return value >= 0 ? `rgba(234, 108, 0, ${alpha.toFixed(3)})` : `rgba(35, 105, 235, ${alpha.toFixed(3)})`;
}

/** Largest finite |v|. */
export function maxAbs(values: Iterable<number>): number {
  let m = 0;
  for (const v of values) if (Number.isFinite(v) && Math.abs(v) > m) m = Math.abs(v);
  return m;
}

/** A short display form; the exact value goes in `data-value`. */
export function fmt(value: number): string {
  if (value === Number.NEGATIVE_INFINITY) return "-\u221e";
  if (value === Number.POSITIVE_INFINITY) return "\u221e";
  if (Number.isNaN(value)) return "NaN";
  const a = Math.abs(value);
  if (a !== 0 && (a < 1e-3 || a >= 1e4)) return value.toExponential(2);
  return value.toFixed(3);
}

/** Removes all children of `node` and appends `children`. */
export function replace(node: Element, ...children: (Node | string)[]): void {
  node.replaceChildren(...children);
}

/** Exactly three decimals, as the node table shows values; the exact value goes in `data-value`. */
export function fixed3(value: number): string {
  if (!Number.isFinite(value)) return fmt(value);
  const text = value.toFixed(3);
  return text === "-0.000" ? "0.000" : text;
}

/**
 * The prompt as coloured text: one span per token (`data-token`, `data-value`), its background the value on a
 * symmetric scale; newlines shown as `↵` and kept as line breaks, a token that completes no character shown by its
 * bytes.
 */
export function colouredText(texts: TokenText[], values: number[], attrs: Record<string, string | number> = {}, title?: (t: number) => string): HTMLElement {
  const scale = maxAbs(values);
  return el(
    "p",
    { class: "coloured-text", ...attrs },
    ...texts.map((tt, t) => {
      const x = values[t] ?? Number.NaN;
      const partial = tt.text === "";
      return el(
        "span",
        {
          class: partial ? "tok partial" : "tok",
          "data-token": t,
          "data-value": x,
          title: `#${t} ${JSON.stringify(tt.text)}${tt.hex ? ` [${tt.hex}]` : ""}: ${title ? title(t) : x}`,
          style: `background:${heatColour(x, scale)}`,
        },
        partial ? tt.label : tt.text.replace(/\n/g, "\u21b5\n"),
      );
    }),
  );
}
