package tasks

// AudioSpeechParams are audio.speech's params.
type AudioSpeechParams struct {
	Input   string   `json:"input" schema:"required,minLength=1,maxLength=4096" doc:"the text to speak"`
	Voice   string   `json:"voice,omitempty" schema:"maxLength=64" doc:"one of the model's voices, any case (absent: its default)"`
	Speed   *float64 `json:"speed,omitempty" schema:"minimum=0.25,maximum=4,default=1"`
	Format  string   `json:"format,omitempty" schema:"enum=wav|pcm|flac,default=wav" doc:"wav: audio/wav at the vocoder's rate; pcm: raw 16-bit little-endian audio/pcm at 24 kHz (OpenAI's); flac: audio/flac"`
	Timings bool     `json:"timings,omitempty" doc:"add per-stage timings (ms) to the result"`
}

// AudioSpeechResult is audio.speech's result; the audio is the artifact
// "speech.wav" (audio/wav) or "speech.pcm" (audio/pcm).
type AudioSpeechResult struct {
	Model      string             `json:"model"`
	Voice      string             `json:"voice"`
	Format     string             `json:"format"`
	SampleRate int                `json:"sample_rate"`
	Samples    int                `json:"samples"`
	Seconds    float64            `json:"seconds"`
	Sentences  int                `json:"sentences"`
	Timings    map[string]float64 `json:"timings,omitempty"` // ms: first_audio, acoustic, vocoder, encode
}
