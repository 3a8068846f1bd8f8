package tokenizer

import (
	"reflect"
	"testing"

	"github.com/loomhq/loom/core/formats"
)

var convo = []Message{
	{"system", "Be brief."},
	{"user", "Hi"},
	{"assistant", "Hello."},
	{"user", "Bye"},
}

func TestChatTemplatesRender(t *testing.T) {
	cases := map[string]string{
		ChatLlama3: "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>" +
			"<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>" +
			"<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>" +
			"<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>" +
			"<|start_header_id|>assistant<|end_header_id|>\n\n",
		ChatChatML: "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n" +
			"<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n",
		ChatLlama2:  "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Bye [/INST]",
		ChatMistral: "[INST] Be brief.\n\nHi [/INST] Hello.</s><s>[INST] Bye [/INST]",
		ChatPlain:   "System: Be brief.\nUser: Hi\nAssistant: Hello.\nUser: Bye\nAssistant:",
	}
	for name, want := range cases {
		if got := (ChatTemplate{name}).Render(convo, true); got != want {
			t.Errorf("%s:\n got %q\nwant %q", name, got, want)
		}
	}
	if got := (ChatTemplate{ChatChatML}).Render(convo[1:2], false); got != "<|im_start|>user\nHi<|im_end|>\n" {
		t.Errorf("no generation prompt: %q", got)
	}
}

func TestTemplateFor(t *testing.T) {
	cases := []struct {
		meta formats.Metadata
		want string
	}{
		{formats.Metadata{"tokenizer.chat_template": "{{ '<|start_header_id|>' + role }}"}, ChatLlama3},
		{formats.Metadata{"tokenizer.chat_template": "{% for m in messages %}<|im_start|>{% endfor %}"}, ChatChatML},
		{formats.Metadata{"tokenizer.chat_template": "[INST] <<SYS>>\\n"}, ChatLlama2},
		{formats.Metadata{"tokenizer.chat_template": "{{ '[INST] ' + m }}"}, ChatMistral},
		{formats.Metadata{"tokenizer.ggml.tokens": []string{"a", "<|im_start|>", "<|im_end|>"}}, ChatChatML},
		{formats.Metadata{"tokenizer.ggml.tokens": []string{"<|start_header_id|>", "<|eot_id|>"}}, ChatLlama3},
		{formats.Metadata{"general.architecture": "qwen2"}, ChatChatML},
		{formats.Metadata{"general.architecture": "llama", "tokenizer.ggml.tokens": []string{"<unk>", "<s>", "</s>"}}, ChatPlain},
	}
	for _, c := range cases {
		if got := TemplateFor(c.meta).Name; got != c.want {
			t.Errorf("%v: %s, want %s", c.meta, got, c.want)
		}
	}
	// A Hugging Face folder: the markers are known only to the tokenizer.
	if got := TemplateForTokenizer(formats.Metadata{}, tinyBPE(t)).Name; got != ChatLlama3 {
		t.Errorf("from tokenizer: %s", got)
	}
}

// Rendered templates encode their markers as control tokens.
func TestChatEncodesMarkers(t *testing.T) {
	bpe := tinyBPE(t)
	tmpl := TemplateForTokenizer(nil, bpe)
	ids := bpe.Encode(tmpl.Render([]Message{{"user", "the cat"}}, true), bpe.AddsBOS())
	want := []int{264, 266, 'u', 's', 'e', 'r', 267, 263, 't', 257, 262, 265, 266, 'a', 's', 's', 'i', 's', 't', 'a', 'n', 't', 267, 263}
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("%v\nwant %v", ids, want)
	}
	if got := tmpl.StopIDs(bpe); !reflect.DeepEqual(got, []int{265}) {
		t.Fatalf("stop ids %v", got)
	}
	spm := tok512(t)
	if got := (ChatTemplate{ChatLlama2}).StopIDs(spm); !reflect.DeepEqual(got, []int{2}) {
		t.Fatalf("llama2 stop ids %v", got)
	}
	plain := TemplateFor(formats.Metadata{"general.architecture": "llama"})
	p := plain.Render([]Message{{"user", "Tell me a story"}}, true)
	if p != "User: Tell me a story\nAssistant:" {
		t.Fatalf("plain %q", p)
	}
	if ids := spm.Encode(p, true); ids[0] != 1 || spm.DecodeAll(ids) != p {
		t.Fatalf("plain prompt encodes to %v", ids)
	}
}

// llama.cpp's tests/test-chat-template.cpp conversation and the outputs it
// expects of its built-in renderings of these families.
func TestChatTemplatesMatchLlamaCpp(t *testing.T) {
	conversation := []Message{
		{"system", "You are a helpful assistant"},
		{"user", "Hello"},
		{"assistant", "Hi there"},
		{"user", "Who are you"},
		{"assistant", "   I am an assistant   "},
		{"user", "Another question"},
	}
	cases := map[string]string{
		ChatGemma: "<start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n" +
			"<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\nI am an assistant<end_of_turn>\n" +
			"<start_of_turn>user\nAnother question<end_of_turn>\n<start_of_turn>model\n",
		ChatDeepSeek: "You are a helpful assistant### Instruction:\nHello\n### Response:\nHi there\n<|EOT|>\n### Instruction:\nWho are you\n" +
			"### Response:\n   I am an assistant   \n<|EOT|>\n### Instruction:\nAnother question\n### Response:\n",
		ChatCommandR: "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>You are a helpful assistant<|END_OF_TURN_TOKEN|>" +
			"<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hello<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>Hi there<|END_OF_TURN_TOKEN|>" +
			"<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Who are you<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>I am an assistant<|END_OF_TURN_TOKEN|>" +
			"<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Another question<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>",
		ChatPhi3: "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n" +
			"<|user|>\nWho are you<|end|>\n<|assistant|>\n   I am an assistant   <|end|>\n<|user|>\nAnother question<|end|>\n<|assistant|>\n",
		ChatDeepSeek2: "You are a helpful assistant\n\nUser: Hello\n\nAssistant: Hi there<｜end▁of▁sentence｜>User: Who are you\n\n" +
			"Assistant:    I am an assistant   <｜end▁of▁sentence｜>User: Another question\n\nAssistant:",
		ChatDeepSeek3: "You are a helpful assistant\n\n<｜User｜>Hello<｜Assistant｜>Hi there<｜end▁of▁sentence｜><｜User｜>Who are you" +
			"<｜Assistant｜>   I am an assistant   <｜end▁of▁sentence｜><｜User｜>Another question<｜Assistant｜>",
	}
	for name, want := range cases {
		if got := (ChatTemplate{name}).Render(conversation, true); got != want {
			t.Errorf("%s:\n got %q\nwant %q", name, got, want)
		}
	}
}

// Templates are told apart from tokenizer.chat_template, the vocabulary or
// the architecture, as llama.cpp's llm_chat_detect_template does.
func TestTemplateForFamilies(t *testing.T) {
	cases := []struct {
		meta formats.Metadata
		want string
	}{
		{formats.Metadata{"tokenizer.chat_template": "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m.role }}{% endfor %}"}, ChatGemma},
		{formats.Metadata{"tokenizer.chat_template": "{{'<|' + m['role'] + '|>'}}{{'<|end|>'}}{{'<|assistant|>'}}"}, ChatPhi3},
		{formats.Metadata{"tokenizer.chat_template": "### Instruction:\n{{c}}\n<|EOT|>"}, ChatDeepSeek},
		{formats.Metadata{"tokenizer.chat_template": "{{ 'Assistant: ' + message['content'] + eos_token }}"}, ChatDeepSeek2},
		{formats.Metadata{"tokenizer.chat_template": "{{'<｜User｜>'}}{{'<｜Assistant｜>'}}{{'<｜end▁of▁sentence｜>'}}"}, ChatDeepSeek3},
		{formats.Metadata{"tokenizer.chat_template": "{%- if enable_thinking %}<|im_start|>assistant\n<think>{% endif %}"}, ChatChatML}, // Qwen3
		{formats.Metadata{"tokenizer.ggml.tokens": []string{"<start_of_turn>", "<end_of_turn>"}}, ChatGemma},
		{formats.Metadata{"tokenizer.ggml.tokens": []string{"<|user|>", "<|assistant|>", "<|end|>"}}, ChatPhi3},
		{formats.Metadata{"general.architecture": "gemma3"}, ChatGemma},
		{formats.Metadata{"general.architecture": "gemma2"}, ChatGemma},
		{formats.Metadata{"general.architecture": "qwen3moe"}, ChatChatML},
		{formats.Metadata{"general.architecture": "phi3"}, ChatPhi3},
	}
	for _, c := range cases {
		if got := TemplateFor(c.meta).Name; got != c.want {
			t.Errorf("%v: %s, want %s", c.meta, got, c.want)
		}
	}
	if s := (ChatTemplate{ChatGemma}).Stops(); len(s) != 1 || s[0] != "<end_of_turn>" {
		t.Errorf("gemma stops %q", s)
	}
}
