package textnorm

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalize(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Dr. Smith paid $3.50 on May 5th, 1999.", "doctor smith paid three dollars and fifty cents on may fifth, nineteen ninety nine."},
		{"Hello, world", "hello, world."},
		{"It costs $1.", "it costs one dollar."},
		{"Only $0.05 left!", "only five cents left!"},
		{"£2.01 and €1,250", "two pounds and one penny and one thousand two hundred fifty euros."},
		{"They raised $3.5 million.", "they raised three point five million dollars."},
		{"Pi is 3.14159; e is about 2.718.", "pi is three point one four one five nine, e is about two point seven one eight."},
		{"It's 10:05 pm. Meet at 7:00.", "it's ten oh five pee em. meet at seven o'clock."},
		{"The 21st and 100th runners", "the twenty first and one hundredth runners."},
		{"She was born in 2005, not 1905 or 1900.", "she was born in two thousand five, not nineteen oh five or nineteen hundred."},
		{"In 2019 it rained.", "in twenty nineteen it rained."},
		{"Music of the 1980s and '60s", "music of the nineteen eighties and sixties."},
		{"Mr. and Mrs. Jones live on Main St. near St. Paul's.", "mister and missus jones live on main street near saint paul's."},
		{"Apples, pears, etc. Then more.", "apples, pears, et cetera. then more."},
		{"Growth was 12.5% vs. 3% (approx.)", "growth was twelve point five percent versus three percent, approximately."},
		{"He ran 5 km and lifted 1 kg.", "he ran five kilometers and lifted one kilogram."},
		{"The BBC and the U.S.A. use CDs.", "the bee bee see and the you ess ay use see dees."},
		{"NASA flew -40 degrees.", "nasa flew minus forty degrees."},
		{"Pages 5-10 of 1,000,000", "pages five to ten of one million."},
		{"Agent 007 called 1234567890123456789012.", "agent zero zero seven called one two three four five six seven eight nine zero one two three four five six seven eight nine zero one two."},
		{"Wait... what?!", "wait. what?"},
		{"\u201cQuoted\u201d \u2014 and caf\u00e9 \u2018ok\u2019", "quoted, and cafe ok."},
		{"Tom & Jerry @ home, e.g. today", "tom and jerry at home, for example, today."},
		{"room No. 5", "room number five."},
		{"HELLO THERE", "hello there."},
		{"", ""},
		{"?!., ", ""},
		{"mp3 and 3D", "mp three and three d."},
		{"On December 17, 1850 and Jan. 3rd we met.", "on december seventeenth, eighteen fifty and january third we met."},
		{"May 40 people come?", "may forty people come?"},
	} {
		if got := Normalize(c.in); got != c.want {
			t.Errorf("Normalize(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestNumbers(t *testing.T) {
	for _, c := range []struct {
		n                   int64
		card, ord, yearWant string
	}{
		{0, "zero", "zeroth", "zero"},
		{7, "seven", "seventh", "seven"},
		{12, "twelve", "twelfth", "twelve"},
		{20, "twenty", "twentieth", "twenty"},
		{101, "one hundred one", "one hundred first", "one hundred one"},
		{1066, "one thousand sixty six", "one thousand sixty sixth", "ten sixty six"},
		{2000, "two thousand", "two thousandth", "two thousand"},
		{2010, "two thousand ten", "two thousand tenth", "twenty ten"},
		{1_000_000_003, "one billion three", "one billion third", "one billion three"},
	} {
		if got := Cardinal(c.n); got != c.card {
			t.Errorf("Cardinal(%d) = %q, want %q", c.n, got, c.card)
		}
		if got := Ordinal(c.n); got != c.ord {
			t.Errorf("Ordinal(%d) = %q, want %q", c.n, got, c.ord)
		}
		if got := Year(c.n); got != c.yearWant {
			t.Errorf("Year(%d) = %q, want %q", c.n, got, c.yearWant)
		}
	}
	if got := Cardinal(-15); got != "minus fifteen" {
		t.Errorf("Cardinal(-15) = %q", got)
	}
}

func TestEncodeDecode(t *testing.T) {
	norm, ids, err := NormalizeEncode("Hi, Bob's 2 cats!")
	if err != nil {
		t.Fatal(err)
	}
	if norm != "hi, bob's two cats!" {
		t.Fatalf("norm %q", norm)
	}
	want := []int{9, 10, 29, 1, 3, 16, 3, 28, 20, 1, 21, 24, 16, 1, 4, 2, 21, 20, 32}
	if len(ids) != len(want) {
		t.Fatalf("ids %v, want %v", ids, want)
	}
	for i := range ids {
		if ids[i] != want[i] {
			t.Fatalf("ids %v, want %v", ids, want)
		}
	}
	back, err := Decode(ids)
	if err != nil || back != norm {
		t.Fatalf("Decode = %q, %v", back, err)
	}
	if _, err := Encode("héllo"); err == nil {
		t.Error("Encode accepted a non-symbol")
	}
	if _, err := Decode([]int{0}); err == nil {
		t.Error("Decode accepted the pad id")
	}
}

// checkNorm asserts the invariants every normalised string keeps.
func checkNorm(t *testing.T, in, out string) {
	if _, err := Encode(out); err != nil {
		t.Fatalf("Normalize(%q) = %q: %v", in, out, err)
	}
	if out == "" {
		return
	}
	if !strings.ContainsAny(out[len(out)-1:], ".?!") || strings.Contains(out, "  ") || strings.HasPrefix(out, " ") ||
		strings.ContainsAny(out[:1], ",.?! ") || strings.Contains(out, " ,") || strings.Contains(out, " .") {
		t.Fatalf("Normalize(%q) = %q: not canonical", in, out)
	}
	if again := Normalize(out); again != out {
		t.Fatalf("Normalize not idempotent on %q: %q → %q", in, out, again)
	}
}

func TestNormalizeInvariants(t *testing.T) {
	for _, in := range []string{"a", "1", "$", "$1.2.3", "99999999999999999999", "-", "- 5 -", "1st.2nd", "A.B", "x'y'", "'''",
		"12:60", "25:00 pm", "£", "€0", "$0", "$0.00", "St.", "etc.", "Dr.", "5 %%", "1,2,3", "1.", ".5", "v.2", "0.0.0"} {
		checkNorm(t, in, Normalize(in))
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"Dr. Smith paid $3.50 on May 5th, 1999.", "10:05 pm", "U.S.A. 1990s", "-3.5 km", "£1,000,000.99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !utf8.ValidString(in) || len(in) > 2000 {
			return
		}
		checkNorm(t, in, Normalize(in))
	})
}
