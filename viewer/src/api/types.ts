// Wire types of the service's v1 endpoints that the viewer uses, named after the OpenAPI document's schemas
// (/swagger/v1/swagger.json). `npm run check-api` (and the e2e test api-types.test.mjs) compares every interface tagged
// `@wire` here, and everything it references, with the live document: property names, types, enum values, and the
// properties a request must send. Members tagged `@planned` are in ../shared/docs/api.md but not served yet; the check
// skips them while the document lacks them and checks them as soon as it has them.
//
// Only wire shapes live here: no logic, no DOM.

/** Element types a tensor may carry on the wire (`int32` only for the `<field>Indices` of a top-k answer). */
export type Dtype = "float32" | "float16" | "bfloat16" | "int32";

/** A tensor as the service writes it: row-major little-endian values, base64-encoded (the default encoding). */
export interface TensorPayload {
  dtype: Dtype;
  shape: number[];
  data: string;
}

/** A floating-point tensor, as requests send them (residuals) and forward passes capture them. */
export interface FloatTensorPayload extends TensorPayload {
  dtype: "float32" | "float16" | "bfloat16";
}

/** Output selection and reduction, applied by the service after the computation (api.md "Output selection"). */
export interface OutputSpec {
  positions?: number[];
  indices?: number[];
  topK?: number;
  by?: "value" | "abs";
  dtype?: "float32" | "float16" | "bfloat16";
}

export interface ModelConfigInfo {
  dModel: number;
  nLayers: number;
  nHeads: number;
  dHead: number;
  dFf: number;
  nCtx: number;
  nVocab: number;
}

export type NodeType = "attention_head" | "mlp_neuron" | "autoencoder_latent" | "mlp_autoencoder_latent" | "attention_autoencoder_latent";
export type AutoencoderInputType =
  | "mlp.post_act"
  | "resid.delta_mlp"
  | "resid.delta_attn"
  | "resid.pre"
  | "resid.post_attn"
  | "resid.post_mlp"
  | "ln_2.normalized";
export type PreOrPostAct = "pre" | "post";
export type AttentionTraceType = "QK" | "Q" | "K";

export interface AutoencoderInfoResponse {
  name: string;
  inputType: AutoencoderInputType;
  nodeType: NodeType;
  layers: number[];
  nLatents: number;
  /**
   * The residual a latent request at layer L sends: `resid.pre` (before layer L), `resid.post_attn` or `resid.post_mlp`
   * of layer L.
   */
  residual?: "resid.pre" | "resid.post_attn" | "resid.post_mlp" | null;
}

/** @wire GET /v1/model response */
export interface ModelInfoResponse {
  config: ModelConfigInfo;
  device: string;
  dtype: string;
  autoencoders: AutoencoderInfoResponse[];
}

/** @wire POST /v1/tokenize request */
export interface TokenizeRequest {
  text: string;
}

/** @wire POST /v1/tokenize response */
export interface TokenizeResponse {
  tokens: number[];
  tokenStrings: string[];
  /** The exact bytes of each token, base64 (RFC 4648), one string per token. */
  tokenBytes: string[];
}

export interface TokenPrediction {
  token: number;
  tokenString: string;
  logprob: number;
}

export interface CapturedTensor {
  location: string;
  /** Absent (or null) for locations outside the layers. */
  layer?: number | null;
  tensor: TensorPayload;
}

/** @wire POST /v1/forward request */
export interface ForwardRequest {
  prompt?: string;
  tokens?: number[];
  capture?: string[];
  topK?: number;
}

/** @wire POST /v1/forward response */
export interface ForwardResponse {
  tokens: number[];
  tokenStrings: string[];
  /** The exact bytes of each token, base64 (RFC 4648), one string per token. */
  tokenBytes: string[];
  topPredictions: TokenPrediction[][];
  captured: CapturedTensor[];
}

/** Body of /v1/activations; /v1/gradients adds `tensorIndices`. @wire POST /v1/activations request */
export interface ActivationsRequest {
  residual: FloatTensorPayload;
  layerIndex: number;
  nodeType: NodeType;
  preOrPostAct: PreOrPostAct;
  attentionTraceType?: AttentionTraceType;
  detachLayerNormScale: boolean;
  autoencoder?: string;
}

/** @wire POST /v1/activations response */
export interface ActivationsResponse {
  activations: TensorPayload;
}

/** @wire POST /v1/gradients request */
export interface GradientsRequest extends ActivationsRequest {
  tensorIndices: number[];
}

/** @wire POST /v1/gradients response */
export interface GradientResponse {
  gradient: TensorPayload;
}

/** @wire POST /v1/logprobs request */
export interface LogitsRequest {
  residual: FloatTensorPayload;
  detachLayerNormScale: boolean;
  output?: OutputSpec;
}

/** @wire POST /v1/logprobs response */
export interface LogprobsResponse {
  logprobs: TensorPayload;
  /** With `output.topK`: the vocabulary index of each kept value. */
  logprobsIndices?: TensorPayload;
}

// ------------------------------------------------------------------ attribution (api.md "Attribution")
// As the service's AttributionContracts define them (README "Attribution"): one sequence only (the page never sends a
// batch, `prompts` or `tokens` as a list of lists, nor `dense`).

/** TDB's group ids: the four columns of the node table. */
export type AttributionGroup = "activation" | "act_times_grad" | "write_norm" | "direction_write";
export type LossName = "logit_diff" | "probs" | "logprob";
/** Trace types of an attention head: QK, Q, K as in /v1/gradients, and V (the head's direct effect on the loss). */
export type TraceType = "QK" | "Q" | "K" | "V";

/**
 * Kinds of node in a node table: `layer` is a token's embedding (`[t, 0]`, no layer index); the errors are those of
 * spliced autoencoders (`[t, neuron]` for an `mlp.post_act` autoencoder, `[t, 0]` otherwise).
 */
export type AttributionNodeType =
  | "layer"
  | "mlp_neuron"
  | "attention_head"
  | "mlp_autoencoder_latent"
  | "attention_autoencoder_latent"
  | "autoencoder_latent"
  | "mlp_autoencoder_error"
  | "attention_autoencoder_error"
  | "autoencoder_error";

export interface AttributionLoss {
  name: LossName;
  targetTokens: number[];
  distractorTokens?: number[];
  /** Token position of the prediction; negative counts from the end (default -1). */
  position?: number;
}

/** The node traced upstream: its pre-activation (or, with `V`, the head's direct effect on the loss) replaces the loss. */
export interface AttributionTrace {
  nodeType: NodeType;
  layerIndex: number;
  tensorIndices: number[];
  /** Heads only. */
  attentionTraceType?: TraceType;
  /** Latents: the spliced autoencoder, when several could serve. */
  autoencoder?: string;
}

/** One node set to `value` (default 0) during the forward pass; `"All"` is TDB's wildcard. */
export interface AttributionAblation {
  nodeType: NodeType;
  layerIndex: number;
  tensorIndices: (number | "All")[];
  value?: number;
  /** Latents: the spliced autoencoder, when several could serve. */
  autoencoder?: string;
}

/**
 * `POST /v1/attribution`: TDB's node table for one sequence.
 * @wire POST /v1/attribution request
 */
export interface AttributionRequest {
  tokens?: number[];
  prompt?: string;
  allowSpecial?: boolean;
  prependBos?: boolean;
  /** Required unless `trace` is given; a `V` trace takes it too. */
  loss?: AttributionLoss;
  trace?: AttributionTrace;
  autoencoders?: string[];
  ablations?: AttributionAblation[];
  groups?: AttributionGroup[];
  /** Top and bottom k per group and node kind (default 10). */
  topK?: number;
  /** Re-run the forward with each of the n nodes of largest |act × grad| set to zero (0 to 256). */
  verifyTopN?: number;
  detachLayerNormScale?: boolean;
}

/** One node of the table; `tensorIndices` is `[token, unit]`, or `[query, key, head]` for heads. */
export interface AttributionNode {
  nodeType: AttributionNodeType;
  /** Absent for `layer` (embedding) nodes. */
  layerIndex?: number | null;
  tensorIndices: number[];
  /** Latent and error nodes: the autoencoder. */
  autoencoder?: string | null;
  /** The node's value in each requested group. */
  values: Record<string, number>;
}

/**
 * One node of `verifyTopN` (the n nodes of largest |act × grad| over all kinds, not only the table's, largest first):
 * the forward re-run with that node set to zero.
 */
export interface AttributionVerification extends AttributionNode {
  actTimesGrad: number;
  /** First-order estimate of the change, `-actTimesGrad`. */
  estimate: number;
  /** Exact change of the loss (or traced value) with the node at zero. */
  lossChange: number;
  /** The loss (or traced value) with the node at zero. */
  ablatedValue: number;
}

/** @wire POST /v1/attribution response */
export interface AttributionResponse {
  tokens: number[];
  /** After ablations; absent for a trace other than `V`. */
  loss?: number | null;
  /** With ablations: the loss without them. */
  unablatedLoss?: number | null;
  /** With a trace: the traced node's pre-activation. */
  tracedValue?: number | null;
  /** Union of each group's top and bottom k nodes per node kind. */
  nodeTable: AttributionNode[];
  /** Group, then TDB's derived-scalar name: the sum over layers and units, `[tokens]`, or `[query, key]` for heads. */
  sums: Record<string, Record<string, TensorPayload>>;
  verification?: AttributionVerification[] | null;
  allowSpecial: boolean;
  prependBos: boolean;
}

/** An RFC 7807 problem as the service writes it (`field` names the request field at fault). */
export interface ProblemDetails {
  type?: string | null;
  title?: string | null;
  status?: number | null;
  detail?: string | null;
  field?: string;
}
