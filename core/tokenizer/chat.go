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
	ChatPlain     = "plain"
	ChatLlama2    = "llama2"
	ChatMistral   = "mistral"
	ChatLlama3    = "llama3"
	ChatChatML    = "chatml" // Qwen2, Qwen3
	ChatGemma     = "gemma"  // Gemma 1/2/3
	ChatPhi3      = "phi3"
	ChatDeepSeek  = "deepseek"  // DeepSeek-Coder instruct
	ChatDeepSeek2 = "deepseek2" // DeepSeek-V2, DeepSeek-LLM chat
	ChatDeepSeek3 = "deepseek3" // DeepSeek-V3, R1
	ChatCommandR  = "command-r"
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
// tokenizer.chat_template are sniffed for the family's markers (in
// llama.cpp's llm_chat_detect_template order), then the vocabulary
// (tokenizer.ggml.tokens) for its special tokens, then the architecture
// (qwen2/qwen3 → chatml, gemma* → gemma, phi3 → phi3); otherwise plain.
func TemplateFor(meta formats.Metadata) ChatTemplate {
	return TemplateForTokenizer(meta, nil)
}

// templateMarkers are the sniffing rules, first match wins.
var templateMarkers = []struct {
	name string
	all  []string // every one must appear in the template
}{
	{ChatChatML, []string{"<|im_start|>"}},
	{ChatLlama2, []string{"[INST]", "<<SYS>>"}},
	{ChatMistral, []string{"[INST]"}},
	{ChatPhi3, []string{"<|assistant|>", "<|end|>"}},
	{ChatGemma, []string{"<start_of_turn>"}},
	{ChatDeepSeek, []string{"### Instruction:", "<|EOT|>"}},
	{ChatCommandR, []string{"<|START_OF_TURN_TOKEN|>", "<|USER_TOKEN|>"}},
	{ChatLlama3, []string{"<|start_header_id|>"}},
	{ChatDeepSeek2, []string{"'Assistant: ' + message['content'] + eos_token"}},
	{ChatDeepSeek3, []string{"<｜Assistant｜>", "<｜User｜>", "<｜end▁of▁sentence｜>"}},
}

// vocabularyMarkers pick a template from special tokens alone.
var vocabularyMarkers = []struct {
	name string
	all  []string
}{
	{ChatLlama3, []string{"<|start_header_id|>", "<|eot_id|>"}},
	{ChatChatML, []string{"<|im_start|>", "<|im_end|>"}},
	{ChatGemma, []string{"<start_of_turn>", "<end_of_turn>"}},
	{ChatPhi3, []string{"<|assistant|>", "<|end|>"}},
	{ChatDeepSeek3, []string{"<｜User｜>", "<｜Assistant｜>"}},
	{ChatCommandR, []string{"<|START_OF_TURN_TOKEN|>", "<|USER_TOKEN|>"}},
}

// TemplateForTokenizer is TemplateFor that also asks tok (may be nil) whether
// the family's markers are single control tokens — for Hugging Face folders,
// whose vocabulary is not in the metadata.
func TemplateForTokenizer(meta formats.Metadata, tok Tokenizer) ChatTemplate {
	if tmpl, ok := meta.String("tokenizer.chat_template"); ok {
		for _, m := range templateMarkers {
			if allIn(m.all, func(s string) bool { return strings.Contains(tmpl, s) }) {
				return ChatTemplate{m.name}
			}
		}
	}
	tokens, _ := meta.Strings("tokenizer.ggml.tokens")
	var inVocab map[string]bool
	has := func(marker string) bool {
		if tokens != nil {
			if inVocab == nil {
				inVocab = map[string]bool{}
				for _, t := range tokens {
					if strings.HasPrefix(t, "<") {
						inVocab[t] = true
					}
				}
			}
			if inVocab[marker] {
				return true
			}
		}
		if tok != nil {
			ids := tok.Encode(marker, false)
			return len(ids) == 1 && tok.IsControl(ids[0])
		}
		return false
	}
	for _, m := range vocabularyMarkers {
		if allIn(m.all, has) {
			return ChatTemplate{m.name}
		}
	}
	switch arch := meta.Arch(); {
	case strings.HasPrefix(arch, "qwen2"), strings.HasPrefix(arch, "qwen3"):
		return ChatTemplate{ChatChatML}
	case strings.HasPrefix(arch, "gemma"):
		return ChatTemplate{ChatGemma}
	case arch == "phi3":
		return ChatTemplate{ChatPhi3}
	}
	return ChatTemplate{ChatPlain}
}

func allIn(markers []string, has func(string) bool) bool {
	for _, m := range markers {
		if !has(m) {
			return false
		}
	}
	return true
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
	case ChatPhi3:
		for _, m := range msgs {
			b.WriteString("<|" + m.Role + "|>\n" + m.Content + "<|end|>\n")
		}
		if addGenerationPrompt {
			b.WriteString("<|assistant|>\n")
		}
	case ChatGemma:
		// Gemma has no system turn: the system text opens the next user
		// turn; "assistant" is "model".
		system := ""
		for _, m := range msgs {
			role := m.Role
			if role == "system" {
				system += strings.TrimSpace(m.Content)
				continue
			}
			if role == "assistant" {
				role = "model"
			}
			b.WriteString("<start_of_turn>" + role + "\n")
			if system != "" && role != "model" {
				b.WriteString(system + "\n\n")
				system = ""
			}
			b.WriteString(strings.TrimSpace(m.Content) + "<end_of_turn>\n")
		}
		if addGenerationPrompt {
			b.WriteString("<start_of_turn>model\n")
		}
	case ChatDeepSeek:
		for _, m := range msgs {
			switch m.Role {
			case "system":
				b.WriteString(m.Content)
			case "assistant":
				b.WriteString("### Response:\n" + m.Content + "\n<|EOT|>\n")
			default:
				b.WriteString("### Instruction:\n" + m.Content + "\n")
			}
		}
		if addGenerationPrompt {
			b.WriteString("### Response:\n")
		}
	case ChatDeepSeek2, ChatDeepSeek3:
		user, assistant, gen := "User: ", "Assistant: ", "Assistant:"
		if c.Name == ChatDeepSeek3 {
			user, assistant, gen = "<｜User｜>", "<｜Assistant｜>", "<｜Assistant｜>"
		}
		for _, m := range msgs {
			switch m.Role {
			case "system":
				b.WriteString(m.Content + "\n\n")
			case "assistant":
				b.WriteString(assistant + m.Content + "<｜end▁of▁sentence｜>")
			default:
				b.WriteString(user + m.Content)
				if c.Name == ChatDeepSeek2 {
					b.WriteString("\n\n")
				}
			}
		}
		if addGenerationPrompt {
			b.WriteString(gen)
		}
	case ChatCommandR:
		turn := map[string]string{"system": "<|SYSTEM_TOKEN|>", "user": "<|USER_TOKEN|>", "assistant": "<|CHATBOT_TOKEN|>"}
		for _, m := range msgs {
			tag, ok := turn[m.Role]
			if !ok {
				tag = turn["user"]
			}
			b.WriteString("<|START_OF_TURN_TOKEN|>" + tag + strings.TrimSpace(m.Content) + "<|END_OF_TURN_TOKEN|>")
		}
		if addGenerationPrompt {
			b.WriteString("<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>")
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
	case ChatPhi3:
		return []string{"<|end|>"}
	case ChatGemma:
		return []string{"<end_of_turn>"}
	case ChatDeepSeek:
		return []string{"<|EOT|>"}
	case ChatDeepSeek2, ChatDeepSeek3:
		return []string{"<｜end▁of▁sentence｜>"}
	case ChatCommandR:
		return []string{"<|END_OF_TURN_TOKEN|>"}
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
