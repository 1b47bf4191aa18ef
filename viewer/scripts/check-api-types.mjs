// Checks the viewer's wire types (src/api/types.ts) against the service's OpenAPI document.
//
//   node scripts/check-api-types.mjs http://127.0.0.1:5057      (or a saved swagger.json)
//
// Every interface tagged `@wire <METHOD> <path> request|response` is compared, with everything it references, to the
// schema of that operation's JSON request body or 200 answer: each property the viewer declares must exist in the
// schema with a compatible type (numbers, strings, booleans, arrays, objects, maps); a request must declare every
// property the schema requires, and send only enum values the schema lists; a response's enums must cover every value
// the schema lists. Members and interfaces tagged `@planned` (in api.md, not served yet) are skipped while the document
// lacks them, and checked once it has them. Exit status 1 on any mismatch.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

export const TYPES_FILE = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "api", "types.ts");

const tagsOf = (symbol) => (symbol?.getJsDocTags?.() ?? []).map((t) => ({ name: t.name, text: (t.text ?? []).map((p) => p.text).join("") }));
const hasTag = (symbol, name) => tagsOf(symbol).some((t) => t.name === name);

/** The document's schema for a `$ref`, with single-entry `allOf` wrappers unwrapped. */
function resolve(doc, schema) {
  let s = schema;
  for (let depth = 0; s && depth < 16; depth++) {
    if (s.$ref) {
      const name = s.$ref.replace("#/components/schemas/", "");
      const target = doc.components?.schemas?.[name];
      if (!target) return undefined;
      s = { ...target, nullable: s.nullable || target.nullable };
    } else if (s.allOf && s.allOf.length === 1 && !s.properties) s = { ...s.allOf[0], nullable: s.nullable };
    else return s;
  }
  return s;
}

const typeName = (schema) => schema.type ?? (schema.enum ? "enum" : schema.properties ? "object" : schema.anyOf || schema.oneOf ? "anyOf" : "any");

/**
 * Compares `type` (TypeScript) with `schema` (OpenAPI) at `where`; `mode` is "request" or "response". Appends messages
 * to `errors`.
 */
function compare(ctx, type, rawSchema, where, mode) {
  const { checker, doc, errors, seen } = ctx;
  const schema = resolve(doc, rawSchema);
  if (!schema) return errors.push(`${where}: unresolved schema ${JSON.stringify(rawSchema)}`);
  const key = `${checker.typeToString(type)}|${JSON.stringify(rawSchema)}|${mode}`;
  if (seen.has(key)) return;
  seen.add(key);

  // Free-form schema ({}): anything goes.
  if (!schema.type && !schema.enum && !schema.properties && !schema.anyOf && !schema.oneOf && !schema.additionalProperties) return;
  // A list of types (`"type": ["integer", "string"]`, e.g. TDB's index-or-"All") is one alternative per type.
  const alternatives = schema.anyOf ?? schema.oneOf ?? (Array.isArray(schema.type) ? schema.type.filter((t) => t !== "null").map((t) => ({ ...schema, type: t })) : undefined);

  let members = type.isUnion() ? type.types : [type];
  members = members.filter((m) => !(m.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null)));
  if (members.length === 0) return errors.push(`${where}: only null/undefined`);
  // `boolean` is the union true | false.
  if (members.every((m) => m.flags & ts.TypeFlags.BooleanLiteral)) members = [checker.getBooleanType()];

  if (alternatives) {
    for (const m of members) {
      const fits = alternatives.some((alt) => {
        const probe = { ...ctx, errors: [], seen: new Set() };
        compare(probe, m, alt, where, mode);
        return probe.errors.length === 0;
      });
      if (!fits) errors.push(`${where}: ${checker.typeToString(m)} fits none of ${JSON.stringify(alternatives.map(typeName))}`);
    }
    return;
  }

  const literals = members.filter((m) => m.isStringLiteral());
  if (literals.length > 0 && literals.length === members.length) {
    if (schema.type && schema.type !== "string") return errors.push(`${where}: string literals, document says ${schema.type}`);
    if (!schema.enum) return; // Any string accepted.
    const ours = literals.map((m) => m.value);
    const theirs = schema.enum.map(String);
    const missing = mode === "request" ? ours.filter((v) => !theirs.includes(v)) : theirs.filter((v) => !ours.includes(v));
    if (missing.length)
      errors.push(`${where}: ${mode === "request" ? "values the document does not accept" : "values the document may send that the viewer does not list"}: ${missing.join(", ")} (document: ${theirs.join(", ")})`);
    return;
  }
  if (members.length > 1) {
    const probe = members.map(checker.typeToString).join(" | ");
    return errors.push(`${where}: union ${probe} needs an anyOf/oneOf schema, document says ${typeName(schema)}`);
  }
  const t = members[0];
  if (t.flags & ts.TypeFlags.NumberLike) {
    if (schema.type !== "integer" && schema.type !== "number") errors.push(`${where}: number, document says ${typeName(schema)}`);
    return;
  }
  if (t.flags & ts.TypeFlags.StringLike) {
    if (schema.type !== "string") errors.push(`${where}: string, document says ${typeName(schema)}`);
    return;
  }
  if (t.flags & ts.TypeFlags.BooleanLike) {
    if (schema.type !== "boolean") errors.push(`${where}: boolean, document says ${typeName(schema)}`);
    return;
  }
  if (checker.isArrayType(t)) {
    if (schema.type !== "array") return errors.push(`${where}: array, document says ${typeName(schema)}`);
    const element = checker.getTypeArguments(t)[0];
    if (schema.items) compare(ctx, element, schema.items, `${where}[]`, mode);
    return;
  }
  const indexType = t.getStringIndexType();
  if (indexType) {
    if (schema.type && schema.type !== "object") return errors.push(`${where}: map, document says ${typeName(schema)}`);
    if (schema.additionalProperties && typeof schema.additionalProperties === "object") compare(ctx, indexType, schema.additionalProperties, `${where}{}`, mode);
    for (const [name, prop] of Object.entries(schema.properties ?? {})) compare(ctx, indexType, prop, `${where}.${name}`, mode);
    return;
  }
  if (t.flags & ts.TypeFlags.Object) {
    if (schema.type && schema.type !== "object") return errors.push(`${where}: object, document says ${typeName(schema)}`);
    compareObject(ctx, t, schema, where, mode);
    return;
  }
  errors.push(`${where}: type ${checker.typeToString(t)} not understood by this check`);
}

function compareObject(ctx, type, schema, where, mode) {
  const { checker, errors, notes } = ctx;
  const properties = schema.properties ?? {};
  const freeForm = schema.additionalProperties === true || (schema.additionalProperties && Object.keys(schema.additionalProperties).length === 0);
  const declared = new Map();
  for (const symbol of checker.getPropertiesOfType(type)) {
    const name = symbol.getName();
    declared.set(name, symbol);
    const at = `${where}.${name}`;
    if (!(name in properties)) {
      if (hasTag(symbol, "planned")) notes.push(`${at}: planned, not in the document yet`);
      else if (!freeForm) errors.push(`${at}: not in the document (properties: ${Object.keys(properties).join(", ")})`);
      continue;
    }
    const declaration = symbol.valueDeclaration ?? symbol.declarations?.[0];
    compare(ctx, checker.getTypeOfSymbolAtLocation(symbol, declaration), properties[name], at, mode);
  }
  if (mode === "request")
    for (const name of schema.required ?? []) {
      const symbol = declared.get(name);
      if (!symbol) errors.push(`${where}.${name}: required by the document, not declared`);
      else if (symbol.flags & ts.SymbolFlags.Optional) errors.push(`${where}.${name}: required by the document, optional here`);
    }
}

function operationSchema(doc, method, path, part) {
  const operation = doc.paths?.[path]?.[method.toLowerCase()];
  if (!operation) return undefined;
  const content = part === "request" ? operation.requestBody?.content : operation.responses?.["200"]?.content;
  return content?.["application/json"]?.schema ?? null;
}

/** Compares the `@wire` interfaces of `file` with `doc`; returns `{ errors, notes, checked }`. */
export function checkApiTypes(doc, file = TYPES_FILE) {
  const program = ts.createProgram([file], { strict: true, target: ts.ScriptTarget.ES2022, noEmit: true, lib: ["lib.es2022.d.ts"] });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  const ctx = { checker, doc, errors: [], notes: [], seen: new Set() };
  const checked = [];
  for (const statement of source.statements) {
    if (!ts.isInterfaceDeclaration(statement)) continue;
    const symbol = checker.getSymbolAtLocation(statement.name);
    const wire = tagsOf(symbol).find((t) => t.name === "wire");
    if (!wire) continue;
    const [method, path, part] = wire.text.trim().split(/\s+/);
    const name = statement.name.text;
    const schema = operationSchema(doc, method, path, part);
    if (schema === undefined) {
      if (hasTag(symbol, "planned")) ctx.notes.push(`${name}: ${method} ${path} is planned, not in the document yet`);
      else ctx.errors.push(`${name}: the document has no ${method} ${path}`);
      continue;
    }
    if (schema === null) {
      ctx.errors.push(`${name}: ${method} ${path} has no JSON ${part} schema`);
      continue;
    }
    compare(ctx, checker.getTypeAtLocation(statement.name), schema, name, part);
    checked.push(`${name} (${method} ${path} ${part})`);
  }
  return { errors: ctx.errors, notes: ctx.notes, checked };
}

/** The OpenAPI document from a service URL or a file. */
export async function loadDocument(source) {
  if (/^https?:\/\//.test(source)) {
    const response = await fetch(source.replace(/\/$/, "") + "/swagger/v1/swagger.json");
    if (!response.ok) throw new Error(`${source}/swagger/v1/swagger.json answered ${response.status}`);
    return response.json();
  }
  return JSON.parse(readFileSync(source, "utf8"));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const source = process.argv[2] ?? process.env.RECON_URL ?? "http://127.0.0.1:5057";
  const { errors, notes, checked } = checkApiTypes(await loadDocument(source));
  for (const c of checked) console.log(`checked  ${c}`);
  for (const n of notes) console.log(`skipped  ${n}`);
  for (const e of errors) console.error(`MISMATCH ${e}`);
  console.log(errors.length ? `${errors.length} mismatches` : "the viewer's wire types match the OpenAPI document");
  process.exit(errors.length ? 1 : 0);
}
