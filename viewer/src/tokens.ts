// Tokens shown faithfully: from the tokenizer's exact bytes (`tokenBytes` of /v1/forward and /v1/tokenize), with
// whitespace and invisible characters made visible.

import { base64Bytes } from "./api/tensor.js";

/** How one token is shown. */
export interface TokenText {
  /** The token's text as it reads in the prompt: what it completes of the UTF-8 stream (may be ""). */
  text: string;
  /** The token on its own, for chips and table cells: visible whitespace, hex for bytes that are not whole characters. */
  label: string;
  /** The token's bytes in hex. */
  hex: string;
}

const hexOf = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");

/**
 * Makes whitespace and invisible characters visible: space `·`, newline `↵`, tab `→`, carriage return `␍`, other
 * control and format characters (and non-ASCII spaces) as `⟨U+XXXX⟩`.
 */
export function visible(text: string): string {
  let out = "";
  for (const ch of text) {
    if (ch === " ") out += "\u00b7";
    else if (ch === "\n") out += "\u21b5";
    else if (ch === "\t") out += "\u2192";
    else if (ch === "\r") out += "\u240d";
    else if (/[\p{Cc}\p{Cf}\p{Zs}\p{Zl}\p{Zp}]/u.test(ch))
      out += `\u27e8U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}\u27e9`;
    else out += ch;
  }
  return out;
}

/**
 * The display of each token from its bytes (base64, as `tokenBytes`): each token shows the characters its bytes
 * complete in the prompt's UTF-8 stream (a character split over tokens belongs to the token holding its last byte), and
 * a token that is not a whole UTF-8 sequence on its own is labelled by its bytes in hex. (The service's `tokenStrings`
 * are not read: they decode each token alone, so a split character reads "\ufffd".)
 */
export function tokenTexts(tokenBytes: string[]): TokenText[] {
  const stream = new TextDecoder("utf-8");
  return tokenBytes.map((b64) => {
    const bytes = base64Bytes(b64);
    const text = stream.decode(bytes, { stream: true });
    let alone: string | undefined;
    try {
      alone = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      alone = undefined;
    }
    const hex = hexOf(bytes);
    return { text, label: alone === undefined ? `\u27e8${hex}\u27e9` : visible(alone), hex };
  });
}
