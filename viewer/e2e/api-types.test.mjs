// The viewer's wire types (src/api/types.ts) against the running service's OpenAPI document, and the check itself
// against a small document with known mismatches (so that a check that passes everything fails here).

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkApiTypes, loadDocument } from "../scripts/check-api-types.mjs";
import { BASE, waitForService } from "./helpers.mjs";

describe("wire types", () => {
  it("match the service's OpenAPI document", async () => {
    await waitForService();
    const { errors, notes, checked } = checkApiTypes(await loadDocument(BASE));
    for (const n of notes) console.log(`# ${n}`);
    assert.ok(checked.length >= 10, `checked ${checked.length} request/response types`);
    assert.deepEqual(errors, []);
  });

  it("the check finds wrong types, unknown and missing fields, enum values either way, planned members", () => {
    const dir = mkdtempSync(join(tmpdir(), "viewer-types-"));
    try {
      const file = join(dir, "types.ts");
      writeFileSync(
        file,
        `export type Kind = "a" | "b" | "z";
/** @wire POST /x request */
export interface XRequest {
  count: string;
  kind: Kind;
  extra?: number;
  /** @planned */
  later?: number;
}
/** @wire POST /x response */
export interface XResponse { kind: Kind; rows: { value: number }[]; soon?: boolean; }
/** @wire POST /y request
 * @planned */
export interface YRequest { a: number; }
`,
      );
      const schema = (props, required) => ({ type: "object", properties: props, required, additionalProperties: false });
      const doc = {
        paths: {
          "/x": {
            post: {
              requestBody: { content: { "application/json": { schema: { $ref: "#/components/schemas/X" } } } },
              responses: { 200: { content: { "application/json": { schema: schema({ kind: { enum: ["a", "b", "c"], type: "string" }, rows: { type: "array", items: schema({ value: { type: "string" } }) } }) } } } },
            },
          },
        },
        components: { schemas: { X: schema({ count: { type: "integer" }, kind: { enum: ["a", "b"], type: "string" }, must: { type: "boolean" } }, ["count", "must"]) } },
      };
      const { errors, notes } = checkApiTypes(doc, file);
      const expected = [
        "XRequest.count: string, document says integer",
        "XRequest.kind: values the document does not accept: z",
        "XRequest.extra: not in the document",
        "XRequest.must: required by the document, not declared",
        "XResponse.kind: values the document may send that the viewer does not list: c",
        "XResponse.rows[].value: number, document says string",
        "XResponse.soon: not in the document",
      ];
      for (const e of expected) assert.ok(errors.some((x) => x.startsWith(e)), `reports "${e}" (got ${JSON.stringify(errors)})`);
      assert.equal(errors.length, expected.length, JSON.stringify(errors));
      assert.ok(notes.some((n) => n.startsWith("XRequest.later: planned")));
      assert.ok(notes.some((n) => n.startsWith("YRequest: POST /y is planned")));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
