// The manual check of issue 18 with the official `openai` npm package: every
// endpoint a user would call, against a running loom serve. Usage:
//   LOOM_URL=http://127.0.0.1:8080 LOOM_KEY=... node check.mjs
// Exits non-zero, naming the call, when an answer is not OpenAI's shape.
import OpenAI, { toFile } from "openai";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const base = process.env.LOOM_URL ?? "http://127.0.0.1:8080";
const ai = new OpenAI({ baseURL: base + "/v1", apiKey: process.env.LOOM_KEY ?? "none", maxRetries: 0 });
let failed = 0;
async function step(name, fn) {
  try { await fn(); console.log("ok  ", name); }
  catch (e) { failed++; console.log("FAIL", name, e?.status ?? "", e?.message ?? e); }
}

await step("models.list / retrieve", async () => {
  const list = await ai.models.list();
  const m = list.data.find((x) => x.id === "stories260K");
  assert.ok(m && m.created > 1577836800 && m.object === "model");
  const one = await ai.models.retrieve("stories260K");
  assert.equal(one.created, m.created);
});
await step("chat.completions", async () => {
  const r = await ai.chat.completions.create({ model: "stories260K", messages: [{ role: "user", content: "Tell me a story." }], max_tokens: 12, seed: 1, n: 2 });
  assert.equal(r.object, "chat.completion");
  assert.equal(r.choices.length, 2);
  assert.ok(r.choices[0].message.content.length > 0 && r.usage.total_tokens > 0);
});
await step("chat.completions stream", async () => {
  const s = await ai.chat.completions.create({ model: "stories260K", messages: [{ role: "user", content: "Hi" }], max_tokens: 12, stream: true, stream_options: { include_usage: true } });
  let text = "", usage = null;
  for await (const c of s) { text += c.choices[0]?.delta?.content ?? ""; usage = c.usage ?? usage; }
  assert.ok(text.length > 0 && usage?.completion_tokens > 0);
});
await step("stream over the context is a 400", async () => {
  await assert.rejects(ai.chat.completions.create({ model: "stories260K", messages: [{ role: "user", content: "cat ".repeat(700) }], stream: true }),
    (e) => e.status === 400 && e.code === "invalid_request");
});
await step("completions", async () => {
  const r = await ai.completions.create({ model: "stories260K", prompt: "Once upon a time", max_tokens: 20, temperature: 0 });
  assert.ok(r.choices[0].text.startsWith(", there was a little girl"));
});
await step("embeddings (the SDK asks for base64)", async () => {
  const r = await ai.embeddings.create({ model: "stories260K", input: ["a cat", "a dog"] });
  assert.equal(r.data.length, 2);
  assert.equal(r.data[0].embedding.length, 64);
  const n = r.data[0].embedding.reduce((s, x) => s + x * x, 0);
  assert.ok(Math.abs(n - 1) < 1e-4);
});
await step("embeddings from a BERT encoder (base64 decoded by the SDK)", async () => {
  const r = await ai.embeddings.create({ model: "bert-mean-f32", input: ["Hello, world!", "The cat sat on the mat."] });
  assert.equal(r.data.length, 2);
  assert.equal(r.data[0].embedding.length, 32);
  assert.equal(r.usage.prompt_tokens, 17); // llama-tokenize: 6 + 11 with [CLS] and [SEP]
  const n = r.data[1].embedding.reduce((s, x) => s + x * x, 0);
  assert.ok(Math.abs(n - 1) < 1e-4);
});
await step("responses create / stream / retrieve", async () => {
  const r = await ai.responses.create({ model: "stories260K", input: "Tell me a story.", instructions: "Be brief.", max_output_tokens: 12 });
  assert.ok(r.id.startsWith("resp_") && r.output_text.length > 0);
  const again = await ai.responses.retrieve(r.id);
  assert.equal(again.output_text, r.output_text);
  const s = await ai.responses.create({ model: "stories260K", input: "Hi", max_output_tokens: 8, stream: true });
  const types = [];
  for await (const e of s) types.push(e.type);
  assert.equal(types[0], "response.created");
  assert.ok(types.includes("response.output_text.delta"));
  assert.ok(types.at(-1) === "response.completed" || types.at(-1) === "response.incomplete");
});
await step("images.generate b64 and url", async () => {
  const r = await ai.images.generate({ model: "shapes-diffusion", prompt: "a large red circle on the left", size: "64x64" });
  assert.ok(Buffer.from(r.data[0].b64_json, "base64").subarray(1, 4).toString() === "PNG");
  const u = await ai.images.generate({ model: "shapes-diffusion", prompt: "a small blue square at the top", response_format: "url" });
  const got = await fetch(u.data[0].url);
  assert.equal(got.status, 200);
  assert.equal(got.headers.get("content-type"), "image/png");
});
await step("images.edit with two images", async () => {
  const png = Buffer.from((await ai.images.generate({ model: "shapes-diffusion", prompt: "a small red square at the top" })).data[0].b64_json, "base64");
  const r = await ai.images.edit({ model: "shapes-diffusion", prompt: "a large green triangle in the center",
    image: [await toFile(png, "a.png", { type: "image/png" }), await toFile(png, "b.png", { type: "image/png" })] });
  assert.equal(r.data.length, 2);
});
await step("audio.speech mp3, wav, pcm, flac; opus and aac refused", async () => {
  const kinds = { mp3: ["audio/mpeg", "fff3"], wav: ["audio/wav", "52494646"], flac: ["audio/flac", "664c6143"], pcm: ["audio/pcm", ""] };
  for (const [fmt, [type, magic]] of Object.entries(kinds)) {
    const r = await ai.audio.speech.create({ model: "loom-tts", voice: "nova", input: "Hello there.", response_format: fmt });
    const b = Buffer.from(await r.arrayBuffer());
    assert.ok(b.length > 1000, fmt);
    assert.equal(r.headers.get("content-type"), type, fmt);
    assert.ok(b.toString("hex").startsWith(magic), `${fmt}: ${b.subarray(0, 4).toString("hex")}`);
    if (fmt === "pcm") assert.equal(r.headers.get("x-loom-sample-rate"), "24000");
    if (fmt === "mp3") assert.equal(r.headers.get("x-loom-sample-rate"), "22050");
  }
  for (const fmt of ["opus", "aac"]) {
    await assert.rejects(ai.audio.speech.create({ model: "loom-tts", voice: "nova", input: "Hi.", response_format: fmt }),
      (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.code === "invalid_request" && /use mp3, wav, flac or pcm/.test(e.message));
  }
});
await step("videos.create / retrieve / list / downloadContent / delete", async () => {
  // LOOM_VIDEO_MODEL: a video.generate model the server has (run.sh adds
  // examples/shapesvideo's procedural shapes-render beside the plugins).
  const model = process.env.LOOM_VIDEO_MODEL ?? "shapes-render";
  const png = Buffer.from((await ai.images.generate({ model: "shapes-diffusion", prompt: "a small red square at the top" })).data[0].b64_json, "base64");
  let v = await ai.videos.create({ model, prompt: "a small red square moving down", seconds: "2", size: "64x64" });
  assert.equal(v.object, "video");
  const withRef = await ai.videos.create({ model, prompt: "a small red square moving down",
    input_reference: await toFile(png, "first.png", { type: "image/png" }) });
  for (const id of [v.id, withRef.id]) {
    for (let i = 0; i < 600; i++) {
      v = await ai.videos.retrieve(id);
      if (v.status === "completed" || v.status === "failed") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(v.status, "completed", JSON.stringify(v));
    assert.equal(v.progress, 100);
    const mp4 = Buffer.from(await (await ai.videos.downloadContent(id)).arrayBuffer());
    assert.equal(mp4.subarray(4, 8).toString(), "ftyp");
    const thumb = Buffer.from(await (await ai.videos.downloadContent(id, { variant: "thumbnail" })).arrayBuffer());
    assert.equal(thumb.subarray(1, 4).toString(), "PNG");
  }
  const list = await ai.videos.list({ limit: 1 });
  assert.equal(list.data.length, 1);
  assert.equal(list.data[0].id, withRef.id);
  const del = await ai.videos.delete(withRef.id);
  assert.ok(del.deleted);
  await assert.rejects(ai.videos.retrieve(withRef.id), (e) => e.status === 404 && e.code === "video_not_found");
  await assert.rejects(ai.videos.create({ model, prompt: "x", seconds: "12" }), (e) => e.status === 400 && e.code === "invalid_request");
});
await step("errors", async () => {
  await assert.rejects(ai.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "hi" }] }),
    (e) => e.status === 404 && e.code === "model_not_found");
});
console.log(failed ? `${failed} failed` : "all passed");
process.exit(failed ? 1 : 0);
