// Thin client for the service's public v1 endpoints: one function per endpoint, typed by ./types.ts.
// Handles problem details, the number of requests in flight, and the API key: when the service answers 401, the
// key provider (the page's key prompt) is asked for a key, which is kept in sessionStorage and sent as X-API-Key on
// the retry and on every later request.

import type {
  ActivationsRequest,
  ActivationsResponse,
  AttributionRequest,
  AttributionResponse,
  ForwardRequest,
  ForwardResponse,
  GradientResponse,
  GradientsRequest,
  LogitsRequest,
  LogprobsResponse,
  ModelInfoResponse,
  ProblemDetails,
  TokenizeResponse,
} from "./types.js";

/** An RFC 7807 problem returned by the service, or a transport failure dressed as one (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string | undefined,
    readonly field: string | undefined,
  ) {
    super(detail ?? title);
    this.name = "ApiError";
  }
}

/** sessionStorage key of the API key: it lives as long as the tab, and is never written to the URL. */
export const API_KEY_STORAGE = "reconservice.apiKey";
export const API_KEY_HEADER = "X-API-Key";

/** Asked for a key after a 401; `rejected` says whether the key just sent was refused. Null: give up. */
export type KeyProvider = (rejected: boolean) => Promise<string | null>;

let keyProvider: KeyProvider | undefined;
/** The prompt in progress, shared by every request that got a 401 meanwhile. */
let keyRequest: Promise<string | null> | undefined;

export function setKeyProvider(provider: KeyProvider): void {
  keyProvider = provider;
}

function storedKey(): string | null {
  try {
    return sessionStorage.getItem(API_KEY_STORAGE);
  } catch {
    return null;
  }
}

async function askForKey(sent: string | null): Promise<string | null> {
  if (!keyProvider) return null;
  // Another request may have got a new key while this one was in flight.
  const current = storedKey();
  if (current && current !== sent) return current;
  keyRequest ??= keyProvider(sent !== null).finally(() => {
    keyRequest = undefined;
  });
  const key = await keyRequest;
  if (key) sessionStorage.setItem(API_KEY_STORAGE, key);
  return key;
}

type Listener = (pending: number) => void;
let pending = 0;
const listeners: Listener[] = [];

/** Calls `listener` with the number of requests in flight whenever it changes. */
export function onPendingChange(listener: Listener): void {
  listeners.push(listener);
}

function setPending(delta: number): void {
  pending += delta;
  for (const l of listeners) l(pending);
}

async function send(method: "GET" | "POST", path: string, body: unknown, key: string | null): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (key) headers[API_KEY_HEADER] = key;
  try {
    return await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, "Network error", `could not reach the service: ${(e as Error).message}`, undefined);
  }
}

async function call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
  setPending(+1);
  try {
    let key = storedKey();
    let response = await send(method, path, body, key);
    while (response.status === 401) {
      const next = await askForKey(key);
      if (!next) break;
      key = next;
      response = await send(method, path, body, key);
    }
    const text = await response.text();
    let json: unknown = undefined;
    if (text.length > 0) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    if (!response.ok) {
      const problem = (json ?? {}) as ProblemDetails;
      throw new ApiError(
        response.status,
        problem.title ?? (response.statusText || `HTTP ${response.status}`),
        problem.detail ?? (json === undefined && text.length > 0 ? text.slice(0, 300) : undefined),
        problem.field,
      );
    }
    if (json === undefined) throw new ApiError(response.status, "Bad response", `${path} returned no JSON`, undefined);
    return json as T;
  } finally {
    setPending(-1);
  }
}

export const api = {
  model: () => call<ModelInfoResponse>("GET", "/v1/model"),
  tokenize: (text: string) => call<TokenizeResponse>("POST", "/v1/tokenize", { text }),
  forward: (body: ForwardRequest) => call<ForwardResponse>("POST", "/v1/forward", body),
  activations: (body: ActivationsRequest) => call<ActivationsResponse>("POST", "/v1/activations", body),
  gradients: (body: GradientsRequest) => call<GradientResponse>("POST", "/v1/gradients", body),
  logprobs: (body: LogitsRequest) => call<LogprobsResponse>("POST", "/v1/logprobs", body),
  attribution: (body: AttributionRequest) => call<AttributionResponse>("POST", "/v1/attribution", body),
};
