// Next-token logprobs: the top tokens per position (from /v1/forward) and the logprob of the token that actually
// follows (from /v1/logprobs on the final residual). Only the columns of the tokens that follow are asked for
// (`output.indices`): an answer of [tokens, distinct next tokens], not [tokens, n_vocab].

import { api } from "../api/client.js";
import { decodeTensor } from "../api/tensor.js";
import { app, byId, cached, currentGeneration, type PromptRun } from "../app.js";
import { el, fmt, heatColour, replace } from "../render.js";
import { visible as visibleString } from "../tokens.js";

/** The logprob of each position's next token (undefined for the last position). */
async function nextTokenLogprobs(run: PromptRun, detach: boolean): Promise<(number | undefined)[]> {
  const nLayers = app.model!.config.nLayers;
  const residual = run.residuals.get(`resid.post_mlp@${nLayers - 1}`);
  if (!residual) throw new Error("the forward pass did not return the final residual");
  const next = run.tokens.slice(1);
  if (next.length === 0) return run.tokens.map(() => undefined);
  const columns = [...new Set(next)].sort((a, b) => a - b);
  const response = await cached(`logprobs:${run.prompt}:${detach}`, () =>
    api.logprobs({ residual, detachLayerNormScale: detach, output: { indices: columns } }),
  );
  const lp = decodeTensor(response.logprobs);
  const width = lp.shape[lp.shape.length - 1]!;
  if (width !== columns.length) throw new Error(`/v1/logprobs answered ${width} columns for the ${columns.length} asked for (output.indices)`);
  return run.tokens.map((_, t) => {
    const token = next[t];
    return token === undefined ? undefined : lp.values[t * width + columns.indexOf(token)]!;
  });
}

export async function renderLogprobs(run: PromptRun): Promise<void> {
  const isCurrent = currentGeneration();
  const actual = await nextTokenLogprobs(run, app.state.detach);
  if (!isCurrent()) return;
  const predictions = run.forward.topPredictions;
  const k = Math.max(0, ...predictions.map((p) => p.length));
  const head = el(
    "tr",
    {},
    el("th", {}, "#"),
    el("th", {}, "token"),
    el("th", {}, "actual next"),
    el("th", {}, "its logprob"),
    ...Array.from({ length: k }, (_, i) => el("th", {}, `top ${i + 1}`)),
  );
  const rows = run.texts.map((text, t) => {
    const next = run.tokens[t + 1];
    const nextLp = actual[t];
    return el(
      "tr",
      { "data-position": t },
      el("th", {}, String(t)),
      el("td", { class: "tok-cell" }, text.label),
      el("td", { class: "tok-cell" }, next === undefined ? "—" : (run.texts[t + 1]?.label ?? "")),
      next === undefined || nextLp === undefined
        ? el("td", { class: "num" }, "")
        : el("td", { class: "num actual", "data-token-id": next, "data-logprob": nextLp, style: `background:${heatColour(Math.exp(nextLp), 1)}` }, fmt(nextLp)),
      ...(predictions[t] ?? []).map((p, rank) =>
        el(
          "td",
          {
            class: p.token === next ? "prediction hit" : "prediction",
            "data-rank": rank,
            "data-token-id": p.token,
            "data-logprob": p.logprob,
            title: `token ${p.token}: logprob ${p.logprob} (p = ${Math.exp(p.logprob).toFixed(4)})`,
            style: `background:${heatColour(Math.exp(p.logprob), 1)}`,
          },
          el("span", { class: "pred-token" }, visibleString(p.tokenString)),
          el("span", { class: "pred-lp" }, fmt(p.logprob)),
        ),
      ),
    );
  });
  replace(
    byId("logprobs"),
    el("p", { class: "hint" }, "Top next tokens from /v1/forward; the actual next token's logprob from /v1/logprobs on the final residual. Shade: probability."),
    el("table", { id: "logprobs-table", class: "logprobs" }, el("thead", {}, head), el("tbody", {}, ...rows)),
  );
}
