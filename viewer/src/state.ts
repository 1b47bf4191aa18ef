// The page's state, which lives in the URL: every view, control, trace trail and ablation is a query parameter, so a
// link reproduces what is shown. Only values that differ from the defaults are written.
//
//   ?prompt=<text>&view=attribution&target=<token id>&distractor=<token id>
//   &loss=logit_diff|probs|logprob &position=-1 &ae=<autoencoder> (repeated) &topk=10 &verify=<n>
//   &trail=<node> (repeated: the trace trail, oldest first) &ablate=<node> (repeated) &sort=<group>[:abs|:asc|:desc]
//   ?view=activations &node=mlp_neuron|attention_head|ae:<name> &layer=<l> &act=pre|post &attn=QK|Q|K &detach=0
//   &units=<top units shown> &head=<h> &unit=<u> &cell=<t,u or q,k,h>
//   ?view=unit &node=... &layer=<l> &unit=<neuron, latent or head> &query=<q> (heads: the query token shown as text)
//   ?view=logprobs
//
// A node is `<nodeType>:<layer>:<index,index[,index]>[:<extra>]`, the extra being the trace type of a head
// (`QK`, `Q`, `K`, `V`) or the autoencoder of a latent; an index may be `All` (TDB's wildcard, ablations of heads).

import type { AttentionTraceType, LossName, PreOrPostAct, TraceType } from "./api/types.js";

export type ViewName = "activations" | "logprobs" | "attribution" | "unit";
export const VIEWS: ViewName[] = ["activations", "logprobs", "attribution", "unit"];
export const GROUPS = ["activation", "act_times_grad", "write_norm", "direction_write"] as const;

export const EXAMPLE_PROMPT = "In the beginning God created the heaven and the earth.";

/** A node of the model, as the attribution endpoint names it. */
export interface NodeRef {
  nodeType: string;
  layer: number;
  indices: (number | "All")[];
  /** Attention heads: the trace type (traces only). */
  traceType?: TraceType;
  /** Latents: the autoencoder. */
  autoencoder?: string;
}

export interface SortSpec {
  /** A group id, or "" for the service's own order. */
  column: string;
  /** abs: |value| descending; desc / asc: signed. */
  order: "abs" | "desc" | "asc";
}

export interface AppState {
  prompt: string;
  view: ViewName;
  // activations and unit views
  node: string;
  layer: number;
  act: PreOrPostAct;
  attn: AttentionTraceType;
  detach: boolean;
  units: number;
  head: number;
  unit?: number;
  cell?: number[];
  query?: number;
  // attribution view
  target?: number;
  distractor?: number;
  loss: LossName;
  position: number;
  autoencoders: string[];
  topK: number;
  verify: number;
  trail: NodeRef[];
  ablate: NodeRef[];
  sort: SortSpec;
}

export const DEFAULTS: AppState = {
  prompt: EXAMPLE_PROMPT,
  view: "activations",
  node: "mlp_neuron",
  layer: 0,
  act: "post",
  attn: "QK",
  detach: true,
  units: 12,
  head: 0,
  loss: "logit_diff",
  position: -1,
  autoencoders: [],
  topK: 10,
  verify: 0,
  trail: [],
  ablate: [],
  sort: { column: "act_times_grad", order: "abs" },
};

export function formatNode(n: NodeRef): string {
  const base = `${n.nodeType}:${n.layer}:${n.indices.join(",")}`;
  const extra = n.traceType ?? n.autoencoder;
  return extra ? `${base}:${extra}` : base;
}

export function parseNode(text: string): NodeRef | undefined {
  const parts = text.split(":");
  if (parts.length < 3 || parts.length > 4) return undefined;
  const [nodeType, layerText, indexText, extra] = parts as [string, string, string, string | undefined];
  const layer = Number(layerText);
  if (!/^[a-z_]+$/.test(nodeType) || !Number.isInteger(layer) || layer < 0) return undefined;
  const indices: (number | "All")[] = [];
  for (const piece of indexText.split(",")) {
    if (piece === "All") indices.push("All");
    else if (/^-?\d+$/.test(piece)) indices.push(Number(piece));
    else return undefined;
  }
  const node: NodeRef = { nodeType, layer, indices };
  if (extra) {
    if (nodeType === "attention_head") {
      if (!["QK", "Q", "K", "V"].includes(extra)) return undefined;
      node.traceType = extra as TraceType;
    } else node.autoencoder = extra;
  }
  return node;
}

export const sameNode = (a: NodeRef, b: NodeRef) => formatNode(a) === formatNode(b);

function int(value: string | null, min?: number): number | undefined {
  if (value === null || !/^-?\d+$/.test(value)) return undefined;
  const n = Number(value);
  return min !== undefined && n < min ? undefined : n;
}

function oneOf<T extends string>(value: string | null, allowed: readonly T[]): T | undefined {
  return allowed.find((a) => a === value);
}

/** Reads the state from a query string; anything missing or malformed takes its default. */
export function parseState(search: string): AppState {
  const q = new URLSearchParams(search);
  const s: AppState = { ...DEFAULTS, autoencoders: [], trail: [], ablate: [], sort: { ...DEFAULTS.sort } };
  const prompt = q.get("prompt");
  if (prompt !== null && prompt.length > 0) s.prompt = prompt;
  s.view = oneOf(q.get("view"), VIEWS) ?? s.view;
  s.node = q.get("node") ?? s.node;
  s.layer = int(q.get("layer"), 0) ?? s.layer;
  s.act = oneOf(q.get("act"), ["pre", "post"] as const) ?? s.act;
  s.attn = oneOf(q.get("attn"), ["QK", "Q", "K"] as const) ?? s.attn;
  s.detach = q.get("detach") !== "0";
  s.units = Math.min(64, int(q.get("units"), 1) ?? s.units);
  s.head = int(q.get("head"), 0) ?? s.head;
  s.unit = int(q.get("unit"), 0);
  s.query = int(q.get("query"), 0);
  const cell = q.get("cell")?.split(",").map((x) => int(x, 0));
  s.cell = cell && cell.length >= 2 && cell.every((x) => x !== undefined) ? (cell as number[]) : undefined;
  s.target = int(q.get("target"), 0);
  s.distractor = int(q.get("distractor"), 0);
  s.loss = oneOf(q.get("loss"), ["logit_diff", "probs", "logprob"] as const) ?? s.loss;
  s.position = int(q.get("position")) ?? s.position;
  s.autoencoders = q.getAll("ae").filter((a) => a.length > 0);
  s.topK = Math.min(200, int(q.get("topk"), 1) ?? s.topK);
  s.verify = Math.min(50, int(q.get("verify"), 0) ?? s.verify);
  s.trail = q.getAll("trail").map(parseNode).filter((n): n is NodeRef => n !== undefined);
  s.ablate = q.getAll("ablate").map(parseNode).filter((n): n is NodeRef => n !== undefined);
  const sort = q.get("sort");
  if (sort !== null) {
    const [column, order] = sort.split(":");
    s.sort = { column: column && (GROUPS as readonly string[]).includes(column) ? column : "", order: oneOf(order ?? "abs", ["abs", "desc", "asc"] as const) ?? "abs" };
  }
  return s;
}

// Characters left as they are in the query (RFC 3986 allows them there): keeps node lists readable.
const KEEP = /%(2C|3A|40|2F)/g;
const UNESCAPE: Record<string, string> = { "%2C": ",", "%3A": ":", "%40": "@", "%2F": "/" };

/** Writes the state as a query string (with its leading `?`), defaults left out. */
export function formatState(s: AppState): string {
  const pairs: [string, string][] = [["prompt", s.prompt]];
  const add = (key: string, value: string | number | undefined, fallback?: string | number) => {
    if (value !== undefined && value !== fallback) pairs.push([key, String(value)]);
  };
  add("view", s.view, DEFAULTS.view);
  if (s.view === "activations" || s.view === "unit") {
    add("node", s.node, DEFAULTS.node);
    add("layer", s.layer, DEFAULTS.layer);
    add("act", s.act, DEFAULTS.act);
    add("attn", s.attn, DEFAULTS.attn);
    if (!s.detach) pairs.push(["detach", "0"]);
    add("unit", s.unit);
  }
  if (s.view === "activations") {
    add("units", s.units, DEFAULTS.units);
    add("head", s.head, DEFAULTS.head);
    if (s.cell) pairs.push(["cell", s.cell.join(",")]);
  }
  if (s.view === "unit") add("query", s.query);
  if (s.view === "attribution") {
    add("target", s.target);
    add("distractor", s.distractor);
    add("loss", s.loss, DEFAULTS.loss);
    add("position", s.position, DEFAULTS.position);
    for (const ae of s.autoencoders) pairs.push(["ae", ae]);
    add("topk", s.topK, DEFAULTS.topK);
    add("verify", s.verify, DEFAULTS.verify);
    for (const n of s.trail) pairs.push(["trail", formatNode(n)]);
    for (const n of s.ablate) pairs.push(["ablate", formatNode(n)]);
    const sort = `${s.sort.column}:${s.sort.order}`;
    add("sort", sort, `${DEFAULTS.sort.column}:${DEFAULTS.sort.order}`);
  }
  return "?" + pairs.map(([k, v]) => `${k}=${encodeURIComponent(v).replace(KEEP, (m) => UNESCAPE[m]!)}`).join("&");
}
