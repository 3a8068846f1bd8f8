package towers

// Whisper's decoding protocol (openai/whisper decoding.py and transcribe.py):
// the decoder is started with
//
//	[<|startofprev|> prompt…] <|startoftranscript|> <|lang|> <|transcribe|or|translate|> [<|notimestamps|>]
//
// (English-only models have no language or task token), the language is
// detected from the logits after <|startoftranscript|> when not given, and
// every step's logits are filtered before greedy choice, sampling or beam
// search: special tokens other than <|endoftext|> and timestamps are never
// produced, begin_suppress_tokens not as the first token, and with timestamps
// on, openai's timestamp rules hold (timestamps come in pairs and never
// decrease, the first token is a timestamp no later than
// max_initial_timestamp_index, and when the timestamps together are more
// probable than any text token a timestamp is taken). Audio longer than one
// window is decoded window after window: with timestamps, the next window
// starts at the last complete segment's end (a segment cut by the window's
// edge is decoded again from its start), otherwise one window after another;
// the text decoded so far is the next window's prompt.

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/loomhq/loom/core/lm"
	"github.com/loomhq/loom/core/media/sound"
	"github.com/loomhq/loom/core/sample"
)

// WhisperGeneration is the part of generation_config.json decoding reads.
type WhisperGeneration struct {
	DecoderStart        int            `json:"decoder_start_token_id"`
	EOS                 int            `json:"eos_token_id"`
	LangToID            map[string]int `json:"lang_to_id"`
	TaskToID            map[string]int `json:"task_to_id"`
	NoTimestamps        int            `json:"no_timestamps_token_id"`
	SuppressTokens      []int          `json:"suppress_tokens"`
	BeginSuppressTokens []int          `json:"begin_suppress_tokens"`
	MaxInitialTimestamp int            `json:"max_initial_timestamp_index"`
	IsMultilingual      bool           `json:"is_multilingual"`
	MaxLength           int            `json:"max_length"`
	// NumBeams is Hugging Face generate()'s default beam width for the
	// folder (0 or 1: greedy); callers use it when a request names none.
	NumBeams int `json:"num_beams"`
	// CTCWeight is Loom's extension: beam search's weight of the folder's
	// CTC head (WhisperOptions.CTCWeight; 0 or absent: attention alone).
	CTCWeight float64 `json:"ctc_weight"`
	// LMWeight is Loom's extension: beam search's weight of the folder's
	// n-gram language model, lm.arpa (WhisperOptions.LMWeight; 0 or absent:
	// none).
	LMWeight float64 `json:"lm_weight"`
	// WordLM is Loom's extension: true fuses the folder's word n-gram,
	// words.arpa, beside the character one (WhisperOptions.WordLM).
	WordLM bool `json:"word_lm"`
}

// WhisperVocab holds a vocabulary's special token ids.
type WhisperVocab struct {
	EOT, SOT, Transcribe, Translate, NoTimestamps int
	NoSpeech, StartOfPrev                         int // -1 when absent
	Space                                         int // the lone space "Ġ" (byte-level BPE), -1 when absent
	TimestampBegin, Timestamps                    int // <|0.00|> and how many follow it contiguously (0: none)
	Languages                                     map[string]int
	SuppressTokens, BeginSuppress                 []int
	MaxInitialTimestamp                           int
	special                                       []bool // (V) ids the decoder must never produce as text
}

// NewWhisperVocab finds the special tokens through id (the tokenizer's
// lookup of a token's text) and gen, for a vocabulary of size tokens.
func NewWhisperVocab(gen WhisperGeneration, size int, id func(string) (int, bool)) (WhisperVocab, error) {
	v := WhisperVocab{NoSpeech: -1, StartOfPrev: -1, Translate: -1, Languages: map[string]int{},
		SuppressTokens: gen.SuppressTokens, BeginSuppress: gen.BeginSuppressTokens, MaxInitialTimestamp: gen.MaxInitialTimestamp}
	need := func(dst *int, text string) error {
		i, ok := id(text)
		if !ok || i < 0 || i >= size {
			return fmt.Errorf("whisper vocabulary: no %s token", text)
		}
		*dst = i
		return nil
	}
	for _, n := range []struct {
		dst  *int
		text string
	}{{&v.EOT, "<|endoftext|>"}, {&v.SOT, "<|startoftranscript|>"}, {&v.Transcribe, "<|transcribe|>"}, {&v.NoTimestamps, "<|notimestamps|>"}} {
		if err := need(n.dst, n.text); err != nil {
			return v, err
		}
	}
	opt := func(texts ...string) int {
		for _, t := range texts {
			if i, ok := id(t); ok && i >= 0 && i < size {
				return i
			}
		}
		return -1
	}
	v.Translate = opt("<|translate|>")
	v.NoSpeech = opt("<|nospeech|>", "<|nocaptions|>")
	v.StartOfPrev = opt("<|startofprev|>")
	v.Space = opt("Ġ")
	if b := opt("<|0.00|>"); b >= 0 {
		v.TimestampBegin = b
		for n := 1; ; n++ {
			if j, ok := id(fmt.Sprintf("<|%.2f|>", float64(n)*0.02)); !ok || j != b+n || j >= size {
				v.Timestamps = n
				break
			}
		}
	}
	for k, i := range gen.LangToID {
		if len(k) > 4 && k[:2] == "<|" && k[len(k)-2:] == "|>" && i >= 0 && i < size {
			v.Languages[k[2:len(k)-2]] = i
		}
	}
	if len(v.Languages) == 0 && gen.IsMultilingual {
		if i := opt("<|en|>"); i >= 0 {
			v.Languages["en"] = i
		}
	}
	for _, t := range append(append([]int(nil), v.SuppressTokens...), v.BeginSuppress...) {
		if t < 0 || t >= size {
			return v, fmt.Errorf("whisper vocabulary: suppressed token %d outside the vocabulary of %d", t, size)
		}
	}
	// Everything from <|endoftext|> on is special (Whisper's vocabularies put
	// the specials after the text tokens), and so is anything the vocabulary
	// names as a language or task.
	v.special = make([]bool, size)
	for i := v.EOT + 1; i < size; i++ {
		v.special[i] = true
	}
	for _, i := range []int{v.SOT, v.Transcribe, v.Translate, v.NoTimestamps, v.NoSpeech, v.StartOfPrev} {
		if i >= 0 {
			v.special[i] = true
		}
	}
	for _, i := range v.Languages {
		v.special[i] = true
	}
	return v, nil
}

// IsTimestamp reports whether id is a timestamp token.
func (v *WhisperVocab) IsTimestamp(id int) bool {
	return v.Timestamps > 0 && id >= v.TimestampBegin && id < v.TimestampBegin+v.Timestamps
}

// IsText reports whether id is a text token (not special, not a timestamp).
func (v *WhisperVocab) IsText(id int) bool {
	return id >= 0 && id < len(v.special) && !v.special[id] && id != v.EOT
}

// WhisperOptions say how to decode.
type WhisperOptions struct {
	Language    string  // "" detects it (multilingual models); ignored by English-only ones
	Task        string  // "transcribe" (default) or "translate"
	Timestamps  bool    // predict segment timestamps
	Beam        int     // beam width; 0 or 1 is greedy
	Temperature float64 // > 0 samples with this temperature (beam is then ignored)
	Seed        int64   // sampling seed (window i samples with Seed+i)
	Prompt      []int   // text tokens conditioning the first window
	// MaxTokens bounds the tokens decoded per window (0: half the decoder's
	// positions, openai's sample_len).
	MaxTokens int
	// CTCWeight λ > 0: beam search ranks hypotheses by (1−λ)·attention +
	// λ·CTC prefix log-probability (whisper_ctc.go); the model must have a
	// CTC head. Greedy decoding and sampling ignore it.
	CTCWeight float64
	// LM with LMWeight β > 0: beam search adds β·ln p_LM(token | the text
	// before it) for each text token, and β·ln p_LM(</s> | text) at
	// <|endoftext|>, to a hypothesis's score (shallow fusion, Gulcehre et
	// al. 2015). The LM's token ids are the vocabulary's text tokens.
	// Greedy decoding and sampling ignore it.
	LM       *lm.NGram
	LMWeight float64
	// WordLM, with LM fused: each word the word model knows is scored by it
	// instead of by LM's characters (multi-level fusion, Hori et al. 2017).
	WordLM *WhisperWordLM
}

// WhisperWordLM is a word n-gram for a character vocabulary. A word is a run
// of letters (a–z, A–Z and ', compared in lower case, as WER counts words);
// any other text token ends it. When a word ends, the character LM's
// log-probability of its letters and of the token that ended it is replaced
// by the word LM's ln p(word | the words before); a word the model does not
// know keeps its characters' score (open vocabulary: spellings by ear are not
// shut out) and the next word's history starts after it. At the end of the
// text the word LM's ln p(</s> | …) replaces the character LM's. Hypotheses
// in the middle of a word carry their characters' score.
type WhisperWordLM struct {
	LM  *lm.NGram
	IDs map[string]int // the LM's id of each word it knows (lower case)
	// Letters[tok] is the lower-case letter text token tok spells, 0 for a
	// token that is not a letter (it ends a word).
	Letters []byte
}

// fusion is a hypothesis's language-model state.
type fusion struct {
	lm    float64 // fused log-probability of the text so far
	word  []byte  // word LM: the letters of the word being spelled
	wchar float64 // the character LM's log-probability of those letters
	wctx  []int   // the word LM's history, oldest first
}

// after is f once tok, whose character log-probability c is already in
// f.lm, follows (end: tok is <|endoftext|>).
func (w *WhisperWordLM) after(f fusion, tok int, end bool, c float64) fusion {
	if !end && tok < len(w.Letters) && w.Letters[tok] != 0 {
		f.word = append(f.word[:len(f.word):len(f.word)], w.Letters[tok]) // a copy: f.word is shared with the parent
		f.wchar += c
		return f
	}
	words, replaced := 0.0, false
	if len(f.word) > 0 {
		if id, ok := w.IDs[string(f.word)]; ok {
			words += w.LM.LogProb(f.wctx, id)
			f.lm -= f.wchar
			ctx := f.wctx[max(0, len(f.wctx)-max(w.LM.Order-2, 0)):] // with id, the last Order−1 words
			f.wctx = append(append(make([]int, 0, len(ctx)+1), ctx...), id)
			replaced = true
		} else {
			f.wctx = []int{}
		}
		f.word, f.wchar = nil, 0
	}
	if end {
		words += w.LM.LogProb(f.wctx, lm.End)
		replaced = true
	}
	if replaced {
		f.lm += words - c
	}
	return f
}

// WhisperSegment is a stretch of speech with its text tokens.
type WhisperSegment struct {
	Start, End   float64 // seconds from the start of the audio
	Tokens       []int   // text tokens, no specials or timestamps
	AvgLogprob   float64 // of the window's decoded tokens
	NoSpeechProb float64 // of the window
}

// WhisperWindow reports one decoded window to Transcribe's caller.
type WhisperWindow struct {
	Index          int
	Start, End     float64 // the audio it covered, seconds
	Language       string
	Segments       []WhisperSegment
	Skipped        bool    // judged silence: no_speech_prob > 0.6 and avg_logprob < −1
	Done, Duration float64 // seconds of audio transcribed so far, of all
}

// windowResult is one window's decoded tokens and scores.
type windowResult struct {
	tokens       []int // after the initial tokens, without <|endoftext|>
	sumLogprob   float64
	noSpeechProb float64
	language     string
}

// Transcribe decodes audio (16 kHz mono) window after window with lm (the
// model's front end), calling each (may be nil) after every window; an error
// from each stops it. It returns the segments and the language.
func (m *Whisper) Transcribe(audio []float32, lm *sound.LogMel, voc *WhisperVocab, o WhisperOptions, each func(WhisperWindow) error) ([]WhisperSegment, string, error) {
	c := m.Cfg
	if lm.Mels != c.NumMelBins || lm.Frames != c.Frames() {
		return nil, "", fmt.Errorf("whisper: front end makes %d×%d features, the model reads %d×%d", lm.Mels, lm.Frames, c.NumMelBins, c.Frames())
	}
	if o.Timestamps && voc.Timestamps == 0 {
		return nil, "", fmt.Errorf("whisper: the vocabulary has no timestamp tokens")
	}
	window := lm.Samples
	duration := float64(len(audio)) / sound.WhisperRate
	prompt := append([]int(nil), o.Prompt...)
	var segs []WhisperSegment
	language := o.Language
	for seek, idx := 0, 0; seek < len(audio); idx++ {
		size := min(window, len(audio)-seek)
		mel := lm.Compute(audio[seek : seek+size])
		enc, err := m.Encode(mel)
		if err != nil {
			return nil, "", err
		}
		oo := o
		oo.Language, oo.Prompt = language, prompt
		r, err := m.decodeWindow(enc, voc, oo, int64(idx))
		if err != nil {
			return nil, "", err
		}
		if language == "" {
			language = r.language
		}
		t0 := float64(seek) / sound.WhisperRate
		w := WhisperWindow{Index: idx, Start: t0, End: t0 + float64(size)/sound.WhisperRate, Language: r.language, Duration: duration}
		avg := r.sumLogprob / float64(max(len(r.tokens), 1))
		advance := size
		if r.noSpeechProb > 0.6 && avg < -1 {
			w.Skipped = true
		} else {
			var adv int
			w.Segments, adv = voc.segments(r.tokens, t0, float64(size)/sound.WhisperRate)
			if adv > 0 {
				advance = min(adv, size)
			}
			for i := range w.Segments {
				w.Segments[i].AvgLogprob, w.Segments[i].NoSpeechProb = avg, r.noSpeechProb
			}
		}
		segs = append(segs, w.Segments...)
		for _, s := range w.Segments {
			prompt = append(prompt, s.Tokens...)
		}
		prompt = prompt[max(0, len(prompt)-c.MaxTargetPositions):]
		seek += advance
		w.Done = float64(seek) / sound.WhisperRate
		if each != nil {
			if err := each(w); err != nil {
				return nil, "", err
			}
		}
	}
	return segs, language, nil
}

// segments splits one window's tokens at its timestamp pairs; start is the
// window's offset and size its length in seconds. It returns the samples to
// advance when the window ends inside a segment (0: the whole window).
func (v *WhisperVocab) segments(toks []int, start, size float64) ([]WhisperSegment, int) {
	text := func(ts []int) []int {
		var out []int
		for _, t := range ts {
			if v.IsText(t) {
				out = append(out, t)
			}
		}
		return out
	}
	at := func(t int) float64 { return float64(t-v.TimestampBegin) * 0.02 }
	var cuts []int // positions i where toks[i-1] and toks[i] are both timestamps
	for i := 1; i < len(toks); i++ {
		if v.IsTimestamp(toks[i-1]) && v.IsTimestamp(toks[i]) {
			cuts = append(cuts, i)
		}
	}
	singleEnd := len(toks) >= 2 && v.IsTimestamp(toks[len(toks)-1]) && !v.IsTimestamp(toks[len(toks)-2])
	if len(cuts) == 0 {
		end := size
		for _, t := range toks {
			if v.IsTimestamp(t) && at(t) > 0 {
				end = min(at(t), size)
			}
		}
		if tx := text(toks); len(tx) > 0 {
			return []WhisperSegment{{Start: start, End: start + end, Tokens: tx}}, 0
		}
		return nil, 0
	}
	var segs []WhisperSegment
	if singleEnd {
		cuts = append(cuts, len(toks))
	}
	last := 0
	for _, c := range cuts {
		part := toks[last:c]
		last = c
		if len(part) == 0 || !v.IsTimestamp(part[0]) {
			continue
		}
		s, e := at(part[0]), at(part[len(part)-1])
		if tx := text(part); len(tx) > 0 {
			segs = append(segs, WhisperSegment{Start: start + s, End: start + max(e, s), Tokens: tx})
		}
	}
	if singleEnd {
		return segs, 0 // no speech after the last timestamp: on to the next window
	}
	lastTS := at(toks[last-1])
	return segs, int(math.Round(lastTS * sound.WhisperRate))
}

// prefix returns the tokens that start a window up to and including
// <|startoftranscript|>: the last maxPrompt tokens of prompt after
// <|startofprev|>, when there is a prompt and the vocabulary has that token.
func (v *WhisperVocab) prefix(prompt []int, maxPrompt int) []int {
	var pre []int
	if len(prompt) > 0 && v.StartOfPrev >= 0 && maxPrompt > 0 {
		p := prompt[max(0, len(prompt)-maxPrompt):]
		pre = append(append(pre, v.StartOfPrev), p...)
	}
	return append(pre, v.SOT)
}

// taskTokens returns the tokens after <|startoftranscript|>: language and
// task (multilingual vocabularies), <|notimestamps|> unless timestamps are on.
func (v *WhisperVocab) taskTokens(o WhisperOptions, language string) ([]int, error) {
	var post []int
	if len(v.Languages) > 0 {
		id, ok := v.Languages[language]
		if !ok {
			return nil, fmt.Errorf("whisper: language %q is not one of the model's %d", language, len(v.Languages))
		}
		task := v.Transcribe
		switch o.Task {
		case "", "transcribe":
		case "translate":
			if v.Translate < 0 {
				return nil, fmt.Errorf("whisper: the model cannot translate")
			}
			task = v.Translate
		default:
			return nil, fmt.Errorf("whisper: task %q (transcribe, translate)", o.Task)
		}
		post = append(post, id, task)
	}
	if !o.Timestamps {
		post = append(post, v.NoTimestamps)
	}
	return post, nil
}

// LanguageCodes lists the language codes the vocabulary has tokens for, sorted.
func (v *WhisperVocab) LanguageCodes() []string {
	names := make([]string, 0, len(v.Languages))
	for k := range v.Languages {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// detectLanguage is the most probable language token in logits.
func (v *WhisperVocab) detectLanguage(logits []float32) string {
	best, bestV := "", float32(math.Inf(-1))
	for _, k := range v.LanguageCodes() {
		if l := logits[v.Languages[k]]; l > bestV {
			best, bestV = k, l
		}
	}
	return best
}

// hyp is one sequence being decoded.
type hyp struct {
	st      *WhisperState
	toks    []int
	logprob float64 // the ranking score: attention, or joint with CTC
	done    bool
	att     float64    // attention log-probability (joint decoding)
	ctc     *ctcPrefix // CTC forward variables (joint decoding)
	lm      fusion     // language-model state of the text so far (fusion)
}

// decodeWindow decodes one window's encoder states.
func (m *Whisper) decodeWindow(enc []float32, v *WhisperVocab, o WhisperOptions, salt int64) (windowResult, error) {
	var r windowResult
	maxCtx := m.Cfg.MaxTargetPositions
	maxTok := o.MaxTokens
	if maxTok <= 0 {
		maxTok = maxCtx / 2
	}
	st, err := m.NewState(enc)
	if err != nil {
		return r, err
	}
	if _, err := m.Step(st, v.prefix(o.Prompt, maxCtx/2-1), false); err != nil {
		return r, err
	}
	if v.NoSpeech >= 0 {
		r.noSpeechProb = math.Exp(logSoftmax(st.Logits)[v.NoSpeech])
	}
	language := o.Language
	if len(v.Languages) > 0 && language == "" {
		language = v.detectLanguage(st.Logits)
	}
	r.language = language
	if len(v.Languages) == 0 {
		r.language = "en"
	}
	post, err := v.taskTokens(o, language)
	if err != nil {
		return r, err
	}
	if len(post) > 0 {
		if _, err := m.Step(st, post, false); err != nil {
			return r, err
		}
	}
	maxTok = min(maxTok, maxCtx-st.Pos)
	var best *hyp
	switch {
	case o.Temperature > 0:
		smp, serr := sample.New(sample.Params{Temperature: o.Temperature, Seed: o.Seed + salt}, m.Cfg.VocabSize)
		if serr != nil {
			return r, fmt.Errorf("whisper: %w", serr)
		}
		l32 := make([]float32, m.Cfg.VocabSize)
		best, err = m.sampleSearch(st, v, o, maxTok, func(lp []float64) int {
			for i, x := range lp {
				l32[i] = float32(x)
			}
			return smp.Sample(l32)
		})
	case o.Beam > 1:
		var ctc [][]float64
		if o.CTCWeight > 0 {
			if ctc, err = m.CTCLogprobs(enc); err != nil {
				return r, err
			}
		}
		if o.LMWeight <= 0 {
			o.LM = nil
		}
		best, err = m.beamSearch(st, v, o, maxTok, ctc)
	default:
		best, err = m.sampleSearch(st, v, o, maxTok, argmax)
	}
	if err != nil {
		return r, err
	}
	r.tokens, r.sumLogprob = best.toks, best.logprob
	return r, nil
}

// sampleSearch decodes one sequence, choosing each token with pick.
func (m *Whisper) sampleSearch(st *WhisperState, v *WhisperVocab, o WhisperOptions, maxTok int, pick func([]float64) int) (*hyp, error) {
	h := &hyp{st: st}
	for len(h.toks) < maxTok {
		lp := v.filtered(st.Logits, h.toks, o.Timestamps)
		tok := pick(lp)
		h.logprob += lp[tok]
		if tok == v.EOT {
			break
		}
		h.toks = append(h.toks, tok)
		if len(h.toks) == maxTok {
			break
		}
		if _, err := m.Step(st, []int{tok}, false); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// beamSearch is openai's BeamSearchDecoder: each live beam proposes its
// width+1 best tokens, the width best continuations by total log-probability
// live on, those ending in <|endoftext|> are set aside until width of them
// are done; the finished sequence with the best log-probability per token
// wins (openai's MaximumLikelihoodRanker without a length penalty). With
// ctc (CTCLogprobs of the window) the score is joint: (1−o.CTCWeight)·the
// attention log-probability + o.CTCWeight·the CTC prefix score (the whole
// sequence's at <|endoftext|>); the candidates are still each beam's best by
// attention. Tokens the CTC head has no label for (specials, timestamps, and
// a first token that is the lone space: the head's targets are the text after
// it) leave the CTC score as it was. With o.LM, o.LMWeight·the LM's
// log-probability of the text so far is added to either score.
func (m *Whisper) beamSearch(st *WhisperState, v *WhisperVocab, o WhisperOptions, maxTok int, ctc [][]float64) (*hyp, error) {
	width := o.Beam
	live := []*hyp{{st: st}}
	lambda := o.CTCWeight
	if ctc != nil {
		live[0].ctc = newCTCPrefix(ctc)
	}
	var finished []*hyp
	type cand struct {
		from *hyp
		tok  int
		lp   float64
		att  float64
		ctc  *ctcPrefix
		lm   fusion
	}
	if o.LM != nil && o.WordLM != nil {
		live[0].lm.wctx = []int{lm.Begin}
	}
	// lmAfter is the LM state of h's text followed by tok (its log-probability
	// 0 without an LM; unchanged by a token that is not text).
	lmAfter := func(h *hyp, tok int) fusion {
		f := h.lm
		if o.LM == nil || tok != v.EOT && !v.IsText(tok) {
			return f
		}
		w := tok
		if tok == v.EOT {
			w = lm.End
		}
		c := o.LM.LogProb(v.lmContext(h.toks, o.LM.Order-1), w)
		f.lm += c
		if o.WordLM != nil {
			f = o.WordLM.after(f, tok, tok == v.EOT, c)
		}
		return f
	}
	beta := o.LMWeight
	// joint returns a candidate h+tok with its joint score.
	joint := func(h *hyp, tok int, lp float64) cand {
		att := h.att + lp
		p, score := h.ctc, h.ctc.score
		switch {
		case tok == v.EOT:
			score = h.ctc.final()
		case tok < len(ctc[0])-1 && !(len(h.toks) == 0 && tok == v.Space):
			p = h.ctc.extend(ctc, tok)
			score = p.score
		}
		l := lmAfter(h, tok)
		return cand{h, tok, (1-lambda)*att + lambda*score + beta*l.lm, att, p, l}
	}
	for step := 0; step < maxTok && len(live) > 0 && len(finished) < width; step++ {
		var cands []cand
		for _, h := range live {
			lp := v.filtered(h.st.Logits, h.toks, o.Timestamps)
			for _, tok := range topK(lp, width+1) {
				if ctc != nil {
					cands = append(cands, joint(h, tok, lp[tok]))
					continue
				}
				l := lmAfter(h, tok)
				cands = append(cands, cand{h, tok, h.logprob + lp[tok] + beta*(l.lm-h.lm.lm), 0, nil, l})
			}
		}
		sort.SliceStable(cands, func(i, j int) bool { return cands[i].lp > cands[j].lp })
		var next []*hyp
		forked := map[*hyp]bool{}
		for _, c := range cands {
			if len(next) == width {
				break
			}
			nh := &hyp{toks: append(append([]int(nil), c.from.toks...), c.tok), logprob: c.lp, att: c.att, ctc: c.ctc, lm: c.lm}
			if c.tok == v.EOT || len(nh.toks) == maxTok {
				if c.tok == v.EOT {
					nh.toks = nh.toks[:len(nh.toks)-1]
				}
				nh.done = true
				finished = append(finished, nh)
				continue
			}
			nh.st = c.from.st
			if forked[c.from] {
				nh.st = c.from.st.Fork()
			}
			forked[c.from] = true
			next = append(next, nh)
		}
		// Step the survivors; a state shared by two of them was forked above
		// before either moved on.
		for _, h := range next {
			if _, err := m.Step(h.st, h.toks[len(h.toks)-1:], false); err != nil {
				return nil, err
			}
		}
		live = next
	}
	if len(finished) == 0 {
		finished = live
	}
	best := finished[0]
	score := func(h *hyp) float64 { return h.logprob / float64(len(h.toks)+1) }
	for _, h := range finished[1:] {
		if score(h) > score(best) {
			best = h
		}
	}
	return best, nil
}

// lmContext is the language model's history after toks: their last n text
// tokens, oldest first, after lm.Begin when toks hold no more text than that.
func (v *WhisperVocab) lmContext(toks []int, n int) []int {
	ctx := make([]int, 0, n+1)
	i := len(toks) - 1
	for ; i >= 0 && len(ctx) < n; i-- {
		if v.IsText(toks[i]) {
			ctx = append(ctx, toks[i])
		}
	}
	for ; i >= 0 && !v.IsText(toks[i]); i-- {
	}
	if i < 0 {
		ctx = append(ctx, lm.Begin)
	}
	slices.Reverse(ctx)
	return ctx
}

// filtered applies the protocol's rules to logits after the tokens toks
// already decoded and returns log-probabilities (−Inf where forbidden).
func (v *WhisperVocab) filtered(logits []float32, toks []int, timestamps bool) []float64 {
	l := make([]float64, len(logits))
	for i, x := range logits {
		l[i] = float64(x)
	}
	ninf := math.Inf(-1)
	for i, s := range v.special {
		if s && !(timestamps && v.IsTimestamp(i)) {
			l[i] = ninf
		}
	}
	for _, t := range v.SuppressTokens {
		l[t] = ninf
	}
	if len(toks) == 0 {
		for _, t := range v.BeginSuppress {
			l[t] = ninf
		}
	}
	if timestamps {
		v.timestampRules(l, toks)
	}
	return logSoftmax64(l)
}

// timestampRules is openai's ApplyTimestampRules on logits l.
func (v *WhisperVocab) timestampRules(l []float64, toks []int) {
	ninf := math.Inf(-1)
	tb, te := v.TimestampBegin, v.TimestampBegin+v.Timestamps
	n := len(toks)
	lastTS := n >= 1 && v.IsTimestamp(toks[n-1])
	penultTS := n < 2 || v.IsTimestamp(toks[n-2])
	if lastTS {
		if penultTS { // a pair just closed: text or end next
			for i := tb; i < te; i++ {
				l[i] = ninf
			}
		} else { // an open segment: a timestamp or the end
			for i := 0; i < v.EOT; i++ {
				l[i] = ninf
			}
		}
	}
	last := -1
	for _, t := range toks {
		if v.IsTimestamp(t) {
			last = t
		}
	}
	if last >= 0 { // timestamps never decrease; a new segment starts after the last one
		floor := last
		if !(lastTS && !penultTS) {
			floor = last + 1
		}
		for i := tb; i < min(floor, te); i++ {
			l[i] = ninf
		}
	}
	if n == 0 { // the first token is a timestamp, not too late
		for i := 0; i < tb; i++ {
			l[i] = ninf
		}
		if v.MaxInitialTimestamp > 0 {
			for i := tb + v.MaxInitialTimestamp + 1; i < te; i++ {
				l[i] = ninf
			}
		}
	}
	lp := logSoftmax64(l)
	tsMass, textMax := math.Inf(-1), math.Inf(-1)
	for i := tb; i < te; i++ {
		tsMass = logAdd(tsMass, lp[i])
	}
	for i := 0; i < tb; i++ {
		textMax = math.Max(textMax, lp[i])
	}
	if tsMass > textMax {
		for i := 0; i < tb; i++ {
			l[i] = ninf
		}
	}
}

// logAdd is log(exp(a) + exp(b)): one exponential and one log1p (the CTC
// prefix scorer calls it three times per frame and candidate).
func logAdd(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	if math.IsInf(b, -1) {
		return a
	}
	return a + math.Log1p(math.Exp(b-a))
}

func logSoftmax(l []float32) []float64 {
	x := make([]float64, len(l))
	for i, v := range l {
		x[i] = float64(v)
	}
	return logSoftmax64(x)
}

func logSoftmax64(l []float64) []float64 {
	mx := math.Inf(-1)
	for _, v := range l {
		mx = math.Max(mx, v)
	}
	var s float64
	for _, v := range l {
		s += math.Exp(v - mx)
	}
	ls := mx + math.Log(s)
	out := make([]float64, len(l))
	for i, v := range l {
		out[i] = v - ls
	}
	return out
}

// argmax is the first index of the largest value.
func argmax(x []float64) int {
	b := 0
	for i, v := range x {
		if v > x[b] {
			b = i
		}
	}
	return b
}

// topK returns the indices of the k largest finite values, largest first.
func topK(x []float64, k int) []int {
	idx := make([]int, 0, len(x))
	for i, v := range x {
		if !math.IsInf(v, -1) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return x[idx[a]] > x[idx[b]] })
	return idx[:min(k, len(idx))]
}
