package e2e

// The OpenAI conformance suite: the official Go SDK (openai-go) against a
// real `loom serve` with the real plugins and models, as a user would call
// it. Each call's fields and types are asserted against OpenAI's published
// shapes (the SDK's own decoders, plus the raw JSON where the SDK is
// lenient), and errors as *openai.Error with their status and code.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/loomhq/loom/shapes"
)

const sdkKey = "sk-loom-conformance"

// sdkServer starts loom serve with an API key and returns an SDK client for
// it (no retries, so every error reaches the assertion) and the base URL.
func sdkServer(t *testing.T) (openai.Client, string) {
	t.Helper()
	return sdkServerWith(t, modelDirs())
}

// sdkServerWith is sdkServer on the given model directories.
func sdkServerWith(t *testing.T, models string) (openai.Client, string) {
	t.Helper()
	return sdkServerOn(t, binDir, models)
}

// sdkServerOn is sdkServer with the plugins of one folder on the given
// model directories.
func sdkServerOn(t *testing.T, plugins, models string) (openai.Client, string) {
	t.Helper()
	port := freePort(t)
	loom(t, "serve", "serve", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--plugins", plugins,
		"--models", models, "--log-level", "warn", "--api-keys", sdkKey)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := &client{t: t, base: base}
	c.waitReady(1, 30*time.Second)
	return openai.NewClient(option.WithBaseURL(base+"/v1/"), option.WithAPIKey(sdkKey), option.WithMaxRetries(0),
		option.WithRequestTimeout(5*time.Minute)), base
}

// apiError asserts err is an *openai.Error with status and code.
func apiError(t *testing.T, what string, err error, status int, code string) {
	t.Helper()
	var ae *openai.Error
	if !errors.As(err, &ae) {
		t.Errorf("%s: error %v (%T), want *openai.Error %d %s", what, err, err, status, code)
		return
	}
	if ae.StatusCode != status || ae.Code != code || ae.Message == "" || ae.Type == "" {
		t.Errorf("%s: %d code %q type %q message %q, want %d %q", what, ae.StatusCode, ae.Code, ae.Type, ae.Message, status, code)
	}
}

// apiParam checks that err is an OpenAI error whose param (what the SDKs
// give as err.Param) names the request field at fault.
func apiParam(t *testing.T, what string, err error, param string) {
	t.Helper()
	var ae *openai.Error
	if errors.As(err, &ae) && ae.Param != param {
		t.Errorf("%s: param %q, want %q (%s)", what, ae.Param, param, ae.Message)
	}
}

// decodeSpeech decodes speech audio with ffmpeg to 16-bit mono samples at
// the file's own rate (pcm is raw 16-bit mono at 24 kHz); false when ffmpeg
// is absent.
func decodeSpeech(t *testing.T, data []byte, format string) ([]int16, bool) {
	t.Helper()
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		return nil, false
	}
	args := []string{"-v", "error"}
	if format == "pcm" {
		args = append(args, "-f", "s16le", "-ar", "24000", "-ac", "1")
	}
	args = append(args, "-i", "-", "-f", "s16le", "-ac", "1", "-")
	cmd := exec.Command(ffmpeg, args...)
	cmd.Stdin = bytes.NewReader(data)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("ffmpeg decoding %s: %v %s", format, err, stderr.String())
	}
	pcm := make([]int16, out.Len()/2)
	_ = binary.Read(&out, binary.LittleEndian, pcm)
	return pcm, true
}

func sceneDataURL(s shapes.Scene) string {
	var b bytes.Buffer
	_ = png.Encode(&b, shapes.Render(s))
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes())
}

func TestOpenAISDK(t *testing.T) {
	if _, err := openaiModelsPresent(); err != nil {
		need(t, false, err.Error())
	}
	ai, base := sdkServer(t)
	ctx := context.Background()

	t.Run("models", func(t *testing.T) {
		page, err := ai.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]openai.Model{}
		for _, m := range page.Data {
			ids[m.ID] = m
			if m.Object != "model" || m.OwnedBy == "" {
				t.Errorf("model %s: object %q owned_by %q", m.ID, m.Object, m.OwnedBy)
			}
			if strings.Contains(m.RawJSON(), `"/`) {
				t.Errorf("model %s shows a server path: %s", m.ID, m.RawJSON())
			}
		}
		for _, id := range []string{"stories260K", "shapes-captioner", "shapes-diffusion", "loom-tts"} {
			m, ok := ids[id]
			if !ok {
				t.Fatalf("no %s in %v", id, page.Data)
			}
			// created: when the model's files were written — after 2020, not in the future.
			if m.Created < time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Unix() || m.Created > time.Now().Unix()+60 {
				t.Errorf("%s: created %d", id, m.Created)
			}
			got, err := ai.Models.Get(ctx, id)
			if err != nil || got.ID != id || got.Created != m.Created || got.Object != "model" {
				t.Errorf("models.retrieve %s: %+v %v", id, got, err)
			}
		}
		_, err = ai.Models.Get(ctx, "no-such-model")
		apiError(t, "retrieve missing model", err, 404, "model_not_found")
	})

	t.Run("chat", func(t *testing.T) {
		res, err := ai.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:     "stories260K",
			Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me a story about a cat.")},
			MaxTokens: openai.Int(16), Seed: openai.Int(1), Temperature: openai.Float(0),
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Object != "chat.completion" || !strings.HasPrefix(res.ID, "chatcmpl-") || res.Model != "stories260K" || res.Created <= 0 ||
			len(res.Choices) != 1 || res.Choices[0].Message.Role != "assistant" || res.Choices[0].Message.Content == "" ||
			res.Choices[0].Index != 0 || res.Usage.CompletionTokens <= 0 || res.Usage.TotalTokens != res.Usage.PromptTokens+res.Usage.CompletionTokens {
			t.Errorf("chat: %s", res.RawJSON())
		}
		if fr := res.Choices[0].FinishReason; fr != "length" && fr != "stop" {
			t.Errorf("finish_reason %q", fr)
		}
	})

	t.Run("chat stream", func(t *testing.T) {
		st := ai.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:     "stories260K",
			Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me a story.")},
			MaxTokens: openai.Int(12), Seed: openai.Int(2),
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for st.Next() {
			ch := st.Current()
			if ch.Object != "chat.completion.chunk" || !strings.HasPrefix(ch.ID, "chatcmpl-") {
				t.Errorf("chunk %s", ch.RawJSON())
			}
			acc.AddChunk(ch)
			chunks++
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		if chunks < 3 || len(acc.Choices) != 1 || acc.Choices[0].Message.Content == "" || acc.Usage.CompletionTokens <= 0 {
			t.Errorf("stream: %d chunks, accumulated %+v", chunks, acc.ChatCompletion)
		}
	})

	t.Run("n choices", func(t *testing.T) {
		res, err := ai.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "stories260K", N: openai.Int(3),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me a story.")}, MaxTokens: openai.Int(10), Seed: openai.Int(9)})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Choices) != 3 {
			t.Fatalf("n 3: %s", res.RawJSON())
		}
		for i, ch := range res.Choices {
			if ch.Index != int64(i) || ch.Message.Content == "" {
				t.Errorf("choice %d: %s", i, ch.RawJSON())
			}
		}
		st := ai.Completions.NewStreaming(ctx, openai.CompletionNewParams{Model: "stories260K", N: openai.Int(2), Seed: openai.Int(9),
			Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")}, MaxTokens: openai.Int(10)})
		texts := map[int64]string{}
		for st.Next() {
			for _, ch := range st.Current().Choices {
				texts[ch.Index] += ch.Text
			}
		}
		if st.Err() != nil || len(texts) != 2 || texts[0] == "" || texts[1] == "" {
			t.Errorf("streamed n 2: %v %v", texts, st.Err())
		}
	})

	t.Run("stream refused before it opens", func(t *testing.T) {
		// Over stories260K's 512-token context: a 400 the SDK sees as an
		// error, not a 200 stream with an error event in it.
		st := ai.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "stories260K",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(strings.Repeat("cat ", 700))}})
		for st.Next() {
			t.Fatalf("a chunk arrived: %s", st.Current().RawJSON())
		}
		apiError(t, "streamed prompt over the context", st.Err(), 400, "invalid_request")
	})

	t.Run("completions", func(t *testing.T) {
		res, err := ai.Completions.New(ctx, openai.CompletionNewParams{
			Model:     "stories260K",
			Prompt:    openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")},
			MaxTokens: openai.Int(20), Temperature: openai.Float(0), Stop: openai.CompletionNewParamsStopUnion{OfString: openai.String(".")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Object != "text_completion" || len(res.Choices) != 1 || !strings.HasPrefix(res.Choices[0].Text, ", there was a little girl") ||
			strings.Contains(res.Choices[0].Text, ".") || res.Choices[0].FinishReason != "stop" {
			t.Errorf("completion: %s", res.RawJSON())
		}
		st := ai.Completions.NewStreaming(ctx, openai.CompletionNewParams{
			Model: "stories260K", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")},
			MaxTokens: openai.Int(20), Temperature: openai.Float(0),
		})
		var text strings.Builder
		for st.Next() {
			if ch := st.Current(); len(ch.Choices) > 0 {
				text.WriteString(ch.Choices[0].Text)
			}
		}
		if st.Err() != nil || !strings.HasPrefix(text.String(), ", there was a little girl") {
			t.Errorf("streamed completion %q, %v", text.String(), st.Err())
		}
	})

	t.Run("vision chat", func(t *testing.T) {
		scene := shapes.RandomScene(rand.New(rand.NewPCG(5, 5)), 0)
		res, err := ai.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: "shapes-captioner",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.TextContentPart("What is in this image?"),
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: sceneDataURL(scene)}),
			})},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Choices) != 1 || res.Choices[0].Message.Content != scene.Caption() {
			t.Errorf("vision chat: %s, want %q", res.RawJSON(), scene.Caption())
		}
		// A caption prefix conditions the caption.
		words := strings.Fields(scene.Caption())
		res, err = ai.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: "shapes-captioner",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: sceneDataURL(scene)}),
				openai.TextContentPart(strings.Join(words[:2], " ")),
			})},
		})
		if err != nil || res.Choices[0].Message.Content != scene.Caption() {
			t.Errorf("vision chat with a prefix: %v %+v", err, res)
		}
	})

	t.Run("embeddings", func(t *testing.T) {
		texts := []string{"Once upon a time, there was a girl.", "Once upon a time, there was a boy.", "The red ball."}
		for _, enc := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
			res, err := ai.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "stories260K",
				Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: texts}, EncodingFormat: enc})
			if err != nil {
				t.Fatal(err)
			}
			if res.Object != "list" || res.Model != "stories260K" || len(res.Data) != 3 || res.Usage.PromptTokens <= 3 ||
				res.Usage.TotalTokens != res.Usage.PromptTokens {
				t.Fatalf("%s: %s", enc, tail(res.RawJSON(), 400))
			}
			for i, d := range res.Data {
				if d.Index != int64(i) || d.Object != "embedding" || len(d.Embedding) != 64 || math.Abs(norm2(d.Embedding)-1) > 1e-4 {
					t.Errorf("%s data[%d]: index %d, %d floats, ‖v‖² %g", enc, i, d.Index, len(d.Embedding), norm2(d.Embedding))
				}
			}
			if enc == openai.EmbeddingNewParamsEncodingFormatBase64 && !strings.Contains(res.Data[0].JSON.Embedding.Raw(), `"`) {
				t.Errorf("base64 asked, got %s", tail(res.Data[0].JSON.Embedding.Raw(), 100))
			}
		}
		// The diffusion pipeline's CLIP text encoder: 128 wide, as dimensions says.
		one, err := ai.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "shapes-diffusion", Dimensions: openai.Int(128),
			Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("a large red circle on the left")}})
		if err != nil || len(one.Data) != 1 || len(one.Data[0].Embedding) != 128 || math.Abs(norm2(one.Data[0].Embedding)-1) > 1e-4 {
			t.Fatalf("clip embedding: %v %+v", err, one)
		}
		_, err = ai.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "stories260K", Dimensions: openai.Int(16),
			Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("a")}})
		apiError(t, "dimensions the model was not trained for", err, 400, "invalid_request")
		// Token ids are the model's own: a decoder embeds them as given, a
		// CLIP text encoder refuses them.
		ids, err := ai.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "stories260K",
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokens: []int64{1, 2}}})
		if err != nil || len(ids.Data) != 1 || ids.Usage.PromptTokens != 2 || math.Abs(norm2(ids.Data[0].Embedding)-1) > 1e-4 {
			t.Errorf("token ids on a decoder: %v %+v", err, ids)
		}
		_, err = ai.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "shapes-diffusion",
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokens: []int64{1, 2}}})
		apiError(t, "token ids on a CLIP text encoder", err, 400, "invalid_request")
		_, err = ai.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "loom-tts",
			Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("a")}})
		apiError(t, "a speech model", err, 404, "model_not_found")
	})

	t.Run("responses", func(t *testing.T) { sdkResponses(t, ai) })

	t.Run("images", func(t *testing.T) { sdkImages(t, ai, base) })

	t.Run("speech", func(t *testing.T) {
		// Every format OpenAI names that Loom serves; each decodes (ffmpeg,
		// where installed) to the same length of speech as the WAV.
		var wavSeconds float64
		var wavSamples []int16
		for _, f := range []openai.AudioSpeechNewParamsResponseFormat{"wav", "pcm", "flac", "mp3"} {
			resp, err := ai.Audio.Speech.New(ctx, openai.AudioSpeechNewParams{Model: "loom-tts", Input: "Hello there. The library opens at nine.",
				Voice: openai.AudioSpeechNewParamsVoiceUnion{OfString: openai.String("nova")}, ResponseFormat: f})
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			rate := resp.Header.Get("X-Loom-Sample-Rate")
			switch f {
			case "wav":
				if string(data[:4]) != "RIFF" || resp.Header.Get("Content-Type") != "audio/wav" {
					t.Errorf("wav: %q %s", data[:4], resp.Header.Get("Content-Type"))
				}
			case "pcm":
				// 24 kHz as OpenAI documents: about 2.5 s of speech is 120 kB.
				if rate != "24000" || len(data)%2 != 0 || len(data) < 2*24000 {
					t.Errorf("pcm: rate %q, %d bytes", rate, len(data))
				}
			case "flac":
				if string(data[:4]) != "fLaC" || resp.Header.Get("Content-Type") != "audio/flac" {
					t.Errorf("flac: %q %s", data[:4], resp.Header.Get("Content-Type"))
				}
			case "mp3":
				// MPEG-2 Layer III, mono, 64 kbit/s at the vocoder's 22.05 kHz.
				if data[0] != 0xff || data[1] != 0xf3 || resp.Header.Get("Content-Type") != "audio/mpeg" || rate != "22050" {
					t.Errorf("mp3: % x %s rate %q", data[:4], resp.Header.Get("Content-Type"), rate)
				}
			}
			if pcm, ok := decodeSpeech(t, data, string(f)); ok {
				hz, _ := strconv.Atoi(rate)
				secs := float64(len(pcm)) / float64(hz)
				switch d := secs - wavSeconds; {
				case f == "wav":
					wavSeconds, wavSamples = secs, pcm
				case d < -0.01 || d > 0.1: // mp3: 1057 samples of delay and the last frame
					t.Errorf("%s decodes to %.3f s, the wav to %.3f s", f, secs, wavSeconds)
				}
				if f == "mp3" {
					// The same speech as the WAV, 1057 samples late (the codec's
					// delay): 31 dB SNR measured; a wrong table or window is ≤ 0.
					var sig, noise float64
					for i, w := range wavSamples {
						e := float64(pcm[i+1057]) - float64(w)
						sig, noise = sig+float64(w)*float64(w), noise+e*e
					}
					if snr := 10 * math.Log10(sig/noise); snr < 20 {
						t.Errorf("mp3 against the wav: SNR %.1f dB, floor 20", snr)
					}
				}
			}
		}
		for _, f := range []openai.AudioSpeechNewParamsResponseFormat{"aac", "opus"} {
			_, err := ai.Audio.Speech.New(ctx, openai.AudioSpeechNewParams{Model: "loom-tts", Input: "Hi.",
				Voice: openai.AudioSpeechNewParamsVoiceUnion{OfString: openai.String("nova")}, ResponseFormat: f})
			apiError(t, string(f), err, 400, "invalid_request")
			var ae *openai.Error
			if errors.As(err, &ae) && !strings.Contains(ae.Message, "use mp3, wav, flac or pcm") {
				t.Errorf("%s: message %q does not name the formats", f, ae.Message)
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, err := ai.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "nope",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
		apiError(t, "unknown model", err, 404, "model_not_found")
		_, err = ai.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "stories260K", Temperature: openai.Float(5),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
		apiError(t, "temperature 5", err, 400, "invalid_request")
		apiParam(t, "temperature 5", err, "temperature")
		bad := openai.NewClient(option.WithBaseURL(base+"/v1/"), option.WithAPIKey("wrong"), option.WithMaxRetries(0))
		_, err = bad.Models.List(ctx)
		apiError(t, "wrong key", err, http.StatusUnauthorized, "invalid_api_key")
	})
	_ = shared.ChatModel("")
}

func norm2(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return s
}

// openaiModelsPresent says why the suite cannot run: it needs the shared
// stories260K and the repository's own models.
func openaiModelsPresent() (bool, error) {
	if !strings.Contains(modelDirs(), "shared") {
		return false, errors.New("../shared/models (stories260K) not present")
	}
	return true, nil
}

func sdkResponses(t *testing.T, ai openai.Client) {
	ctx := context.Background()
	res, err := ai.Responses.New(ctx, responses.ResponseNewParams{
		Model:        "stories260K",
		Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String("Tell me a story about a dog.")},
		Instructions: openai.String("You tell short stories."), MaxOutputTokens: openai.Int(12), Temperature: openai.Float(0),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.ID, "resp_") || res.Object != "response" || res.Model != "stories260K" || res.CreatedAt <= 0 ||
		res.OutputText() == "" || res.Instructions.OfString != "You tell short stories." || res.Usage.OutputTokens <= 0 ||
		res.Usage.TotalTokens != res.Usage.InputTokens+res.Usage.OutputTokens || len(res.Output) != 1 || res.Output[0].Type != "message" {
		t.Fatalf("response: %s", res.RawJSON())
	}
	if res.Status != "completed" && !(res.Status == "incomplete" && res.IncompleteDetails.Reason == "max_output_tokens") {
		t.Errorf("status %q, incomplete %+v", res.Status, res.IncompleteDetails)
	}
	got, err := ai.Responses.Get(ctx, res.ID, responses.ResponseGetParams{})
	if err != nil || got.OutputText() != res.OutputText() || got.Status != res.Status {
		t.Errorf("retrieve: %v %s", err, got.RawJSON())
	}

	// Streamed: the semantic events in order, deltas adding up to the text.
	st := ai.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: "stories260K",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Tell me a story.")}, MaxOutputTokens: openai.Int(12), Temperature: openai.Float(0)})
	var types []string
	var deltas strings.Builder
	var final responses.Response
	for st.Next() {
		ev := st.Current()
		types = append(types, ev.Type)
		switch ev.Type {
		case "response.output_text.delta":
			deltas.WriteString(ev.AsResponseOutputTextDelta().Delta)
		case "response.completed", "response.incomplete":
			final = ev.Response
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(types, ",")
	if !strings.HasPrefix(joined, "response.created,response.in_progress,response.output_item.added,response.content_part.added,response.output_text.delta") ||
		!strings.HasSuffix(joined, "response.output_text.done,response.content_part.done,response.output_item.done,"+"response."+strings.TrimPrefix(types[len(types)-1], "response.")) ||
		deltas.String() == "" || final.OutputText() != deltas.String() {
		t.Errorf("stream events %s; deltas %q, final %q", joined, deltas.String(), final.OutputText())
	}

	// input_image with a captioner: the caption is the output.
	scene := shapes.RandomScene(rand.New(rand.NewPCG(8, 8)), 0)
	img, err := ai.Responses.New(ctx, responses.ResponseNewParams{Model: "shapes-captioner",
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			responses.ResponseInputItemParamOfMessage(responses.ResponseInputMessageContentListParam{
				{OfInputText: &responses.ResponseInputTextParam{Text: "Describe the image."}},
				{OfInputImage: &responses.ResponseInputImageParam{ImageURL: openai.String(sceneDataURL(scene)), Detail: "auto"}},
			}, responses.EasyInputMessageRoleUser)}}})
	if err != nil || img.OutputText() != scene.Caption() {
		t.Errorf("input_image: %v, %q want %q", err, img.OutputText(), scene.Caption())
	}

	// Background: queued at once, read back and cancelled by id.
	bg, err := ai.Responses.New(ctx, responses.ResponseNewParams{Model: "stories260K", Background: openai.Bool(true),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Once upon a time")}, MaxOutputTokens: openai.Int(400)})
	if err != nil || (bg.Status != "queued" && bg.Status != "in_progress") {
		t.Fatalf("background: %v %s", err, bg.RawJSON())
	}
	cancelled, err := ai.Responses.Cancel(ctx, bg.ID)
	if err != nil || (cancelled.Status != "cancelled" && cancelled.Status != "completed" && cancelled.Status != "incomplete") {
		t.Errorf("cancel: %v %s", err, cancelled.RawJSON())
	}
	if again, err := ai.Responses.Get(ctx, bg.ID, responses.ResponseGetParams{}); err != nil || again.Status != cancelled.Status {
		t.Errorf("retrieve after cancel: %v %+v", err, again)
	}

	// store false: answered, never served back.
	tmp, err := ai.Responses.New(ctx, responses.ResponseNewParams{Model: "stories260K", Store: openai.Bool(false),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Hi")}, MaxOutputTokens: openai.Int(4)})
	if err != nil || tmp.OutputText() == "" || !strings.Contains(tmp.RawJSON(), `"store":false`) {
		t.Fatalf("store false: %v %+v", err, tmp)
	}
	_, err = ai.Responses.Get(ctx, tmp.ID, responses.ResponseGetParams{})
	apiError(t, "retrieve an unstored response", err, 404, "not_found")
	_, err = ai.Responses.Get(ctx, "resp_nope", responses.ResponseGetParams{})
	apiError(t, "retrieve a missing response", err, 404, "not_found")
	_, err = ai.Responses.New(ctx, responses.ResponseNewParams{Model: "stories260K", PreviousResponseID: openai.String(res.ID),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("more")}})
	apiError(t, "previous_response_id", err, 400, "invalid_request")
}

func sdkImages(t *testing.T, ai openai.Client, base string) {
	ctx := context.Background()
	gen, err := ai.Images.Generate(ctx, openai.ImageGenerateParams{Model: "shapes-diffusion", Prompt: "a large red circle on the left",
		N: openai.Int(2), Size: "64x64"})
	if err != nil {
		t.Fatal(err)
	}
	if len(gen.Data) != 2 || gen.Created <= 0 {
		t.Fatalf("generate: %s", tail(gen.RawJSON(), 300))
	}
	for i, d := range gen.Data {
		raw, err := base64.StdEncoding.DecodeString(d.B64JSON)
		if err != nil {
			t.Fatal(err)
		}
		if im, err := png.Decode(bytes.NewReader(raw)); err != nil || im.Bounds().Dx() != 64 {
			t.Errorf("image %d: %v", i, err)
		}
	}

	// response_format=url: a signed link that opens without the API key,
	// and not once tampered with.
	byURL, err := ai.Images.Generate(ctx, openai.ImageGenerateParams{Model: "shapes-diffusion", Prompt: "a small blue square at the top",
		ResponseFormat: openai.ImageGenerateParamsResponseFormatURL})
	if err != nil || len(byURL.Data) != 1 || !strings.HasPrefix(byURL.Data[0].URL, base+"/v1/files/") {
		t.Fatalf("url: %v %s", err, byURL.RawJSON())
	}
	resp, err := http.Get(byURL.Data[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if _, err := png.Decode(bytes.NewReader(body)); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || err != nil {
		t.Errorf("GET the url: %d %s %v", resp.StatusCode, resp.Header.Get("Content-Type"), err)
	}
	forged := strings.Replace(byURL.Data[0].URL, "image-000.png", "image-001.png", 1)
	if resp, err := http.Get(forged); err != nil || resp.StatusCode != 403 {
		t.Errorf("a URL for another file: %v %v", resp.StatusCode, err)
	}

	// images.edit with two images: the SDK sends image[] parts; n per image.
	a, b := shapes.RandomScene(rand.New(rand.NewPCG(1, 2)), 0), shapes.RandomScene(rand.New(rand.NewPCG(3, 4)), 0)
	files := []io.Reader{}
	for i, s := range []shapes.Scene{a, b} {
		var buf bytes.Buffer
		_ = png.Encode(&buf, shapes.Render(s))
		files = append(files, openai.File(&buf, fmt.Sprintf("scene%d.png", i), "image/png"))
	}
	edit, err := ai.Images.Edit(ctx, openai.ImageEditParams{Model: "shapes-diffusion", Prompt: "a large green triangle in the center",
		Image: openai.ImageEditParamsImageUnion{OfFileArray: files}})
	if err != nil || len(edit.Data) != 2 || edit.Data[0].B64JSON == "" || edit.Data[0].B64JSON == edit.Data[1].B64JSON {
		t.Errorf("edit with two images: %v, %d results", err, len(edit.Data))
	}
}
