package tokenizer

import (
	"slices"
	"strings"

	"github.com/loomhq/loom/core/formats"
)

// Message is one chat turn. Role is "system", "user" or "assistant".
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Chat template kinds.
const (
	ChatPlain   = "plain"
	ChatLlama2  = "llama2"
	ChatMistral = "mistral"
	ChatLlama3  = "llama3"
	ChatChatML  = "chatml"
)

// ChatTemplate renders messages into a prompt the way a model family was
// trained to read them. Render never includes BOS: encode the result with
// Encode(prompt, true) so BOS is added once, as a token. Marker tokens in the
// output ("<|eot_id|>", "</s>") are matched as their control tokens by Encode.
//
// Models without a template (base models such as stories260K) get "plain":
//
//	System: {system}\n      (only when there is a system message)
//	User: {user}\n
//	Assistant: {assistant}\n
//	Assistant:              (the generation prompt; no trailing space, as the
//	                         model's first token usually carries its own)
//
// with "\nUser:" as a stop string so the model does not write the user's turn.
type ChatTemplate struct {
	Name string // one of the Chat* kinds
}

// TemplateFor picks a template from metadata: the contents of
// tokenizer.chat_template are sniffed for the family's markers, then the
// vocabulary (tokenizer.ggml.tokens) for its special tokens, then the
// architecture (qwen2 → chatml); otherwise plain.
func TemplateFor(meta formats.Metadata) ChatTemplate {
	return TemplateForTokenizer(meta, nil)
}

// TemplateForTokenizer is TemplateFor that also asks tok (may be nil) whether
// the family's markers are single control tokens — for Hugging Face folders,
// whose vocabulary is not in the metadata.
func TemplateForTokenizer(meta formats.Metadata, tok Tokenizer) ChatTemplate {
	if tmpl, ok := meta.String("tokenizer.chat_template"); ok {
		switch {
		case strings.Contains(tmpl, "<|start_header_id|>"):
			return ChatTemplate{ChatLlama3}
		case strings.Contains(tmpl, "<|im_start|>"):
			return ChatTemplate{ChatChatML}
		case strings.Contains(tmpl, "<<SYS>>"):
			return ChatTemplate{ChatLlama2}
		case strings.Contains(tmpl, "[INST]"):
			return ChatTemplate{ChatMistral}
		}
	}
	has := func(marker string) bool {
		if tokens, ok := meta.Strings("tokenizer.ggml.tokens"); ok && slices.Contains(tokens, marker) {
			return true
		}
		if tok != nil {
			ids := tok.Encode(marker, false)
			return len(ids) == 1 && tok.IsControl(ids[0])
		}
		return false
	}
	switch {
	case has("<|start_header_id|>") && has("<|eot_id|>"):
		return ChatTemplate{ChatLlama3}
	case has("<|im_start|>") && has("<|im_end|>"):
		return ChatTemplate{ChatChatML}
	}
	switch meta.Arch() {
	case "qwen2", "qwen2moe":
		return ChatTemplate{ChatChatML}
	}
	return ChatTemplate{ChatPlain}
}

// Render writes the conversation; addGenerationPrompt ends it with the
// opening of the assistant's turn.
func (c ChatTemplate) Render(msgs []Message, addGenerationPrompt bool) string {
	var b strings.Builder
	switch c.Name {
	case ChatLlama3:
		for _, m := range msgs {
			b.WriteString("<|start_header_id|>" + m.Role + "<|end_header_id|>\n\n" + strings.TrimSpace(m.Content) + "<|eot_id|>")
		}
		if addGenerationPrompt {
			b.WriteString("<|start_header_id|>assistant<|end_header_id|>\n\n")
		}
	case ChatChatML:
		for _, m := range msgs {
			b.WriteString("<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n")
		}
		if addGenerationPrompt {
			b.WriteString("<|im_start|>assistant\n")
		}
	case ChatLlama2, ChatMistral:
		// Meta's format: the system prompt is folded into the first user
		// turn; each exchange is "[INST] user [/INST] answer </s>" and every
		// later turn starts with "<s>" (the first BOS is Encode's).
		system := ""
		first := true
		for _, m := range msgs {
			switch m.Role {
			case "system":
				system = strings.TrimSpace(m.Content)
			case "assistant":
				if c.Name == ChatLlama2 {
					b.WriteString(" " + strings.TrimSpace(m.Content) + " </s>")
				} else {
					b.WriteString(" " + strings.TrimSpace(m.Content) + "</s>")
				}
			default:
				if !first {
					b.WriteString("<s>")
				}
				content := strings.TrimSpace(m.Content)
				if system != "" {
					if c.Name == ChatLlama2 {
						content = "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + content
					} else {
						content = system + "\n\n" + content
					}
					system = ""
				}
				b.WriteString("[INST] " + content + " [/INST]")
				first = false
			}
		}
	default:
		for _, m := range msgs {
			b.WriteString(roleTitle(m.Role) + ": " + m.Content + "\n")
		}
		if addGenerationPrompt {
			b.WriteString("Assistant:")
		}
	}
	return b.String()
}

// Stops are the texts that end the assistant's turn: the family's
// end-of-turn marker (encode it to get the token id to stop on) or, for
// plain, the start of the next user line.
func (c ChatTemplate) Stops() []string {
	switch c.Name {
	case ChatLlama3:
		return []string{"<|eot_id|>"}
	case ChatChatML:
		return []string{"<|im_end|>"}
	case ChatLlama2, ChatMistral:
		return []string{"</s>"}
	}
	return []string{"\nUser:"}
}

// StopIDs are the token ids of the template's stop markers in tok (those
// that encode to a single control token) plus tok's EOS.
func (c ChatTemplate) StopIDs(tok Tokenizer) []int {
	var ids []int
	if tok.EOS() >= 0 {
		ids = append(ids, tok.EOS())
	}
	for _, s := range c.Stops() {
		if enc := tok.Encode(s, false); len(enc) == 1 && tok.IsControl(enc[0]) && !slices.Contains(ids, enc[0]) {
			ids = append(ids, enc[0])
		}
	}
	return ids
}

func roleTitle(role string) string {
	if role == "" {
		return "User"
	}
	return strings.ToUpper(role[:1]) + role[1:]
}
