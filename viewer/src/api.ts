// Thin client for the service's public v1 endpoints (see docs/api.md). Only wire shapes live here.

/** A tensor as the service writes it: row-major little-endian float32 bytes, base64-encoded. */
export interface TensorPayload {
  dtype: string;
  shape: number[];
  data: string;
}

/** A decoded tensor. */
export interface Tensor {
  shape: number[];
  values: Float32Array;
}

export interface ModelConfig {
  dModel: number;
  nLayers: number;
  nHeads: number;
  dHead: number;
  dFf: number;
  nCtx: number;
  nVocab: number;
}

export interface AutoencoderInfo {
  name: string;
  inputType: "mlp.post_act" | "resid.delta_mlp" | "resid.delta_attn";
  nodeType: string;
  layers: number[];
  nLatents: number;
  nInputs: number;
  activation: string;
  k?: number | null;
}

export interface ModelInfo {
  config: ModelConfig;
  device: string;
  dtype: string;
  autoencoders: AutoencoderInfo[];
}

export interface TokenizeResponse {
  tokens: number[];
  tokenStrings: string[];
}

export interface TokenPrediction {
  token: number;
  tokenString: string;
  logprob: number;
}

export interface CapturedTensor {
  location: string;
  layer: number | null;
  tensor: TensorPayload;
}

export interface ForwardResponse {
  tokens: number[];
  tokenStrings: string[];
  topPredictions: TokenPrediction[][];
  captured: CapturedTensor[];
}

/** Body shared by /v1/activations and /v1/gradients. */
export interface ActivationsRequest {
  residual: TensorPayload;
  layerIndex: number;
  nodeType: string;
  preOrPostAct: "pre" | "post";
  passType?: "forward" | "backward";
  attentionTraceType?: "QK" | "Q" | "K";
  detachLayerNormScale: boolean;
  autoencoder?: string;
}

export interface GradientsRequest extends ActivationsRequest {
  tensorIndices: number[];
}

/** An RFC 7807 problem returned by the service, or a transport failure dressed as one. */
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

async function call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
  setPending(+1);
  try {
    let response: Response;
    try {
      response = await fetch(path, {
        method,
        headers: body === undefined ? { Accept: "application/json" } : { "Content-Type": "application/json", Accept: "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, "Network error", `could not reach the service: ${(e as Error).message}`, undefined);
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
      const problem = (json ?? {}) as { title?: string; detail?: string; field?: string };
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
  model: () => call<ModelInfo>("GET", "/v1/model"),
  tokenize: (text: string) => call<TokenizeResponse>("POST", "/v1/tokenize", { text }),
  forward: (prompt: string, capture: string[], topK: number) =>
    call<ForwardResponse>("POST", "/v1/forward", { prompt, capture, topK }),
  activations: (body: ActivationsRequest) => call<{ activations: TensorPayload }>("POST", "/v1/activations", body),
  gradients: (body: GradientsRequest) => call<{ gradient: TensorPayload }>("POST", "/v1/gradients", body),
  /** Log-probabilities of the vocabulary entries `indices` only ([tokens, indices.length]), not the whole vocabulary. */
  logprobs: (residual: TensorPayload, detachLayerNormScale: boolean, indices: number[]) =>
    call<{ logprobs: TensorPayload }>("POST", "/v1/logprobs", { residual, detachLayerNormScale, output: { indices } }),
};

/** Decodes a float32 payload (base64, little-endian) into a typed array. */
export function decodeTensor(payload: TensorPayload): Tensor {
  if (payload.dtype !== "float32") throw new Error(`expected float32 output, got ${payload.dtype}`);
  const binary = atob(payload.data);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  const count = payload.shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== count * 4) throw new Error(`tensor of shape [${payload.shape}] needs ${count * 4} bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer);
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = view.getFloat32(i * 4, true);
  return { shape: payload.shape, values };
}
