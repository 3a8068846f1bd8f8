#!/usr/bin/python3
"""Generates the English text Loom's TTS models are trained on: no downloads,
so sentences come from hand-written word lists and templates (statements,
questions, commands, exclamations, lists, dialogue), with the written forms the
front end must handle mixed in (prices, years, dates, times, ordinals,
decimals, percentages, units, abbreviations, initialisms) and Shapes-world
captions; and, for --everyday of the lines, plain everyday English from
everyday.py's much broader vocabulary (pronouns, the commonest nouns and
verbs in all their forms), without which a character model never meets the
spellings of most ordinary words; and, for --dictionary of the lines, words
drawn from a pronouncing dictionary (pocketsphinx-en-us's CMU dictionary) in
short carrier frames. Deterministic for a seed.

  /usr/bin/python3 tools/tts/corpus.py --n 6000 --seed 2 --everyday 0.5 > /tmp/tts/corpus.txt"""
import argparse
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from everyday import everyday_sentence  # noqa: E402

NAMES = """Alice Bob Carol David Emma Frank Grace Henry Isabel Jack Karen Liam Maria Noah Olivia Peter Quinn Rachel
Samuel Tara Victor Wendy Xavier Yusuf Zoe Amelia Benjamin Charlotte Daniel Eleanor George Hannah Oscar Sophia Thomas
Lucy Martin Nora Patrick Ruby Simon Julia Kevin Laura Michael Nina Robert Sarah William Jones Smith Brown Taylor Wilson
Johnson Clark Lewis Walker Young Harris Martinez Lopez Baker Nelson Carter Mitchell Turner Parker Collins Edwards""".split()

NOUNS = """apple river garden window teacher doctor kitchen bottle mountain forest letter morning evening winter summer
autumn spring island library market station bridge castle village city country engine planet ocean desert valley
blanket candle pencil notebook camera guitar piano violin ticket jacket sweater umbrella basket bucket hammer ladder
mirror pillow rabbit turtle dolphin eagle horse tiger monkey elephant giraffe penguin kitten puppy farmer lawyer
nurse pilot sailor soldier painter writer singer dancer student neighbour stranger friend brother sister mother father
daughter uncle cousin baby child family company meeting question answer problem story history picture memory
language message number minute hour moment season weather thunder lightning rainbow shadow sunlight moonlight
cloud storm breeze journey holiday vacation birthday wedding concert festival museum theatre hospital airport
harbour factory office school college university bakery restaurant breakfast lunch dinner dessert sandwich biscuit
chocolate cheese butter bread honey pepper carrot potato tomato onion lemon orange banana cherry strawberry
coffee water juice soup salad computer keyboard telephone television radio machine robot rocket satellite bicycle
motorcycle truck train bus boat ship plane wheel road street highway corner field meadow hill cliff beach wave
stone sand glass paper metal wood cotton silk leather diamond silver gold iron copper crystal feather flower
leaf branch root seed tree grass bush rose tulip daisy lily idea plan reason secret promise dream voice song
poem novel chapter page word sentence circle square triangle colour shape size kingdom queen king prince princess
knight dragon wizard giant treasure map compass lantern anchor harvest puzzle riddle lesson exam homework game
match team player coach captain winner referee stadium ball goal score medal trophy""".split()

ADJS = """small large tiny huge quiet loud bright dark warm cold hot cool soft hard smooth rough heavy light
young old new ancient modern early late quick slow fast gentle brave clever curious careful careless happy sad
angry calm busy lazy eager proud shy friendly lonely famous strange simple difficult easy important useful
beautiful ugly clean dirty empty full rich poor strong weak sharp dull sweet bitter salty fresh rotten ripe
green red blue yellow purple orange white black golden silver wooden broken hidden open closed narrow wide deep
shallow tall short thick thin wet dry noisy peaceful crowded distant nearby foreign local delicious terrible
wonderful excellent ordinary unusual mysterious comfortable dangerous safe honest polite rude patient nervous
""".split()

# (base, third person, past)
VERBS = [tuple(v.split(",")) for v in """walk,walks,walked|open,opens,opened|close,closes,closed|paint,paints,painted
|watch,watches,watched|carry,carries,carried|visit,visits,visited|clean,cleans,cleaned|follow,follows,followed
|borrow,borrows,borrowed|answer,answers,answered|discover,discovers,discovered|explain,explains,explained
|remember,remembers,remembered|forget,forgets,forgot|build,builds,built|bring,brings,brought|buy,buys,bought
|catch,catches,caught|choose,chooses,chose|draw,draws,drew|drive,drives,drove|find,finds,found|give,gives,gave
|hold,holds,held|keep,keeps,kept|leave,leaves,left|lose,loses,lost|make,makes,made|meet,meets,met|read,reads,read
|ride,rides,rode|see,sees,saw|sell,sells,sold|send,sends,sent|sing,sings,sang|take,takes,took|teach,teaches,taught
|throw,throws,threw|wear,wears,wore|write,writes,wrote|cook,cooks,cooked|fix,fixes,fixed|wash,washes,washed
|count,counts,counted|measure,measures,measured|study,studies,studied|describe,describes,described
|protect,protects,protected|repair,repairs,repaired|deliver,delivers,delivered|collect,collects,collected
|notice,notices,noticed|imagine,imagines,imagined|prefer,prefers,preferred|order,orders,ordered
|share,shares,shared|hide,hides,hid|feed,feeds,fed|climb,climbs,climbed|push,pushes,pushed|pull,pulls,pulled
|lift,lifts,lifted|touch,touches,touched|enjoy,enjoys,enjoyed|admire,admires,admired|check,checks,checked
|plant,plants,planted|wrap,wraps,wrapped|mention,mentions,mentioned|recognise,recognises,recognised""".replace("\n", "").split("|")]

INTRANS = [tuple(v.split(",")) for v in """sleep,sleeps,slept|laugh,laughs,laughed|smile,smiles,smiled|arrive,arrives,arrived
|disappear,disappears,disappeared|wait,waits,waited|travel,travels,travelled|dance,dances,danced|swim,swims,swam
|fly,flies,flew|run,runs,ran|shout,shouts,shouted|whisper,whispers,whispered|listen,listens,listened
|rest,rests,rested|work,works,worked|play,plays,played|grow,grows,grew|fall,falls,fell|shine,shines,shone
|wander,wanders,wandered|hurry,hurries,hurried|agree,agrees,agreed|complain,complains,complained""".replace("\n", "").split("|")]

ADVS = """quickly slowly quietly loudly carefully happily sadly suddenly finally usually often never always
sometimes rarely gently bravely eagerly politely proudly calmly easily badly early late together alone
yesterday today tomorrow tonight outside inside upstairs downstairs everywhere nearly almost really""".split()

PLACES = """London Paris Tokyo Berlin Madrid Rome Sydney Toronto Chicago Boston Denver Seattle Dublin Oslo Cairo
Lisbon Vienna Prague Athens Moscow Mumbai Delhi Beijing Seoul Lagos Nairobi Lima Santiago Mexico Canada Brazil
Japan India Egypt Kenya Norway Sweden Iceland Scotland Wales Ireland Texas Florida California""".split()

MONTHS = "January February March April May June July August September October November December".split()
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
PREPS = "near behind under beside above across through around inside outside towards".split()
TITLES = ["Dr.", "Mr.", "Mrs.", "Ms.", "Prof.", "Capt."]
INITS = ["BBC", "USA", "UK", "FBI", "CEO", "TV", "DVD", "PC", "NHS", "UN", "EU", "GPS", "DNA", "ATM", "U.S.", "A.I."]
UNITS = ["km", "kg", "cm", "mm", "mph", "lbs", "ft", "GB", "MB", "%"]

HANDWRITTEN = """The quick brown fox jumps over the lazy dog.
How much wood would a woodchuck chuck if a woodchuck could chuck wood?
She sells sea shells by the sea shore.
Please call me when you get home.
I think it is going to rain this afternoon.
Could you tell me the way to the station, please?
Thank you very much for your help.
What time does the next train leave?
We should leave early to avoid the traffic.
Do not forget to lock the door behind you.
It was the best of times, it was the worst of times.
All that glitters is not gold.
Every cloud has a silver lining.
Actions speak louder than words.
Where there is a will, there is a way.
Yes, of course! I would be glad to come.
No, thank you. I have already eaten.
Excuse me, is this seat taken?
Why is the sky blue during the day and red at sunset?
Turn left at the second corner and keep walking.
The weather forecast says it will be sunny and warm.
My favourite colours are green, blue and purple.
He whispered the answer so that nobody else could hear.
Listen carefully, because I will only say this once.
Would you rather live in the city or in the countryside?
The library closes at six o'clock on weekdays.
If you heat ice, it melts; if you cool water, it freezes.
Wow, that was amazing!
Oh no, I left my keys in the car.
Well, I suppose we could try again tomorrow.
Honestly, I don't know what you mean.
They're sure it's theirs, but we'll see.
Isn't it wonderful how quickly children learn?
Ladies and gentlemen, welcome aboard.
Knowledge is power, and enthusiasm pulls the switch.
A journey of a thousand miles begins with a single step.
Through the thick fog, the lighthouse shone brightly.
Thirty three thieves thought that they thrilled the throne throughout Thursday.
The judge said the jury should reach a verdict by Friday.
Psychology and physics are difficult subjects for some people.
Knights, gnomes and wrens are words with silent letters.
Choose the right answer, then write it neatly in the box.
Enough is enough; I am leaving now.
Although it was late, the shop was still open.""".split("\n")


def article(word):
    return "an" if word[0] in "aeiou" else "a"


def ordinal(n):
    if n % 100 in (11, 12, 13):
        return f"{n}th"
    return f"{n}" + {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def pick(r, xs):
    return r.choice(xs)


def noun_phrase(r):
    n = pick(r, NOUNS)
    k = r.random()
    if k < 0.35:
        return f"the {pick(r, ADJS)} {n}"
    if k < 0.6:
        return f"the {n}"
    if k < 0.75:
        a = pick(r, ADJS)
        return f"{article(a)} {a} {n}"
    if k < 0.87:
        return f"{pick(r, NAMES)}'s {n}"
    return f"{r.choice(['two', 'three', 'several', 'many', 'some', 'a few'])} {n}s"


def name(r):
    if r.random() < 0.2:
        return f"{pick(r, TITLES)} {pick(r, NAMES)}"
    return pick(r, NAMES)


def money(r):
    c = r.choice("$$$£€")
    k = r.random()
    if k < 0.4:
        return f"{c}{r.randint(1, 99)}.{r.randint(0, 99):02d}"
    if k < 0.7:
        return f"{c}{r.randint(1, 2000)}"
    if k < 0.85:
        return f"{c}{r.randint(1, 999)},{r.randint(0, 999):03d}"
    return f"{c}{r.randint(1, 9)}.{r.randint(1, 9)} million"


def number(r):
    k = r.random()
    if k < 0.4:
        return str(r.randint(0, 100))
    if k < 0.7:
        return str(r.randint(100, 9999))
    if k < 0.85:
        return f"{r.randint(1, 999)},{r.randint(0, 999):03d}"
    return f"{r.randint(0, 99)}.{r.randint(0, 99)}"


def date(r):
    d, y = r.randint(1, 28), r.randint(1800, 2030)
    return r.choice([f"{pick(r, MONTHS)} {ordinal(d)}, {y}", f"{pick(r, MONTHS)} {ordinal(d)}", f"{pick(r, DAYS)}, {pick(r, MONTHS)} {d}", f"{y}"])


def clock(r):
    h, m = r.randint(1, 12), r.choice([0, 5, 10, 15, 20, 30, 45, r.randint(0, 59)])
    return f"{h}:{m:02d}" + r.choice(["", " am", " pm", " p.m.", " a.m."])


def shapes_caption(r):
    def obj():
        return (f"a {r.choice(['small', 'large'])} {r.choice(['red', 'green', 'blue', 'yellow', 'purple', 'orange'])} "
                f"{r.choice(['circle', 'square', 'triangle'])} "
                f"{r.choice(['on the left', 'on the right', 'at the top', 'at the bottom', 'in the center'])}")
    return obj() if r.random() < 0.6 else f"{obj()} and {obj()}"


def sentence(r):
    v, iv = pick(r, VERBS), pick(r, INTRANS)
    t = r.randrange(30)
    if t == 0:
        return f"{name(r)} {v[2]} {noun_phrase(r)} {pick(r, ADVS)}."
    if t == 1:
        return f"{noun_phrase(r).capitalize()} {iv[2]} {pick(r, PREPS)} {noun_phrase(r)}."
    if t == 2:
        return f"Did {name(r)} {v[0]} {noun_phrase(r)}?"
    if t == 3:
        return f"Why does {noun_phrase(r)} {iv[0]} so {pick(r, ADVS)}?"
    if t == 4:
        return f"Please {v[0]} {noun_phrase(r)} before {pick(r, DAYS)}."
    if t == 5:
        a = pick(r, ADJS)
        return f"What {article(a)} {a} {pick(r, NOUNS)}!"
    if t == 6:
        return f"{name(r)} paid {money(r)} for {noun_phrase(r)}."
    if t == 7:
        return f"The {pick(r, NOUNS)} costs {money(r)}, but {name(r)} only has {money(r)}."
    if t == 8:
        return f"On {date(r)}, {name(r)} {v[2]} {noun_phrase(r)} in {pick(r, PLACES)}."
    if t == 9:
        return f"The meeting starts at {clock(r)} on {pick(r, DAYS)}."
    if t == 10:
        return f"There are {number(r)} {pick(r, NOUNS)}s in {pick(r, PLACES)}."
    if t == 11:
        return f"{name(r)} finished {ordinal(r.randint(1, 40))} out of {r.randint(40, 500)}."
    if t == 12:
        return f"About {r.randint(1, 99)}% of {pick(r, NOUNS)}s are {pick(r, ADJS)}."
    if t == 13:
        return f"The {pick(r, NOUNS)} is {number(r)} {r.choice(UNITS)} {r.choice(['long', 'away', 'heavy', 'in total'])}."
    if t == 14:
        return f"The {pick(r, INITS)} reported that {noun_phrase(r)} {iv[2]} {pick(r, ADVS)}."
    if t == 15:
        return f"{name(r)} lives at {r.randint(1, 300)} {pick(r, NAMES)} St. near {pick(r, PLACES)}."
    if t == 16:
        return f"{shapes_caption(r)}."
    if t == 17:
        return f"I {v[0]} {noun_phrase(r)}, {noun_phrase(r)} and {noun_phrase(r)}."
    if t == 18:
        return f"\"{pick(r, ['Look', 'Wait', 'Listen', 'Hurry', 'Stop'])}!\" said {name(r)}, \"{noun_phrase(r)} is {pick(r, ADJS)}.\""
    if t == 19:
        return f"If {noun_phrase(r)} {iv[1]}, {name(r)} will {v[0]} {noun_phrase(r)}."
    if t == 20:
        return f"{name(r)} and {name(r)} {v[2]} {noun_phrase(r)} {pick(r, PREPS)} {noun_phrase(r)}."
    if t == 21:
        return f"Have you ever seen {noun_phrase(r)} {pick(r, PREPS)} {noun_phrase(r)}?"
    if t == 22:
        return f"In {r.randint(1700, 2029)}, {noun_phrase(r)} was {pick(r, ADJS)} and {pick(r, ADJS)}."
    if t == 23:
        return f"The answer is {number(r)}, not {number(r)}."
    if t == 24:
        return f"{pick(r, ADVS).capitalize()}, {name(r)} {iv[2]} and {v[2]} {noun_phrase(r)}."
    if t == 25:
        return f"Room {r.randint(1, 999)} is on the {ordinal(r.randint(1, 30))} floor, next to {noun_phrase(r)}."
    if t == 26:
        return f"{noun_phrase(r).capitalize()} is {pick(r, ADJS)}; {noun_phrase(r)} is {pick(r, ADJS)}."
    if t == 27:
        return f"Call {name(r)} before {clock(r)}, or {name(r)} will {iv[0]}."
    if t == 28:
        return f"{name(r)} doesn't {v[0]} {noun_phrase(r)}, does {r.choice(['she', 'he', 'it'])}?"
    return pick(r, HANDWRITTEN)


CMUDICT = "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict"  # Debian's pocketsphinx-en-us


def dictionary_words(path):
    """Every plain lower-case word (2-14 letters) of a CMU-style pronouncing dictionary: 117,000 words from
    pocketsphinx-en-us's, common and rare alike, so the character model meets far more spellings than any
    hand-written list has, with none chosen by looking at an evaluation set."""
    out = []
    for line in open(path, encoding="utf-8", errors="replace"):
        w = line.split(" ", 1)[0]
        if w.isalpha() and w.islower() and w.isascii() and 2 <= len(w) <= 14:
            out.append(w)
    return out


def dictionary_sentence(r, words):
    """Dictionary words in a few carrier frames (statements, questions, lists), so each is spoken inside
    ordinary prosody rather than alone."""
    w = lambda: r.choice(words)  # noqa: E731
    t = r.randrange(8)
    if t == 0:
        return f"{w().capitalize()}, {w()}, {w()} and {w()}."
    if t == 1:
        return f"I saw the {w()} near the {w()}."
    if t == 2:
        return f"Is the {w()} {w()} or {w()}?"
    if t == 3:
        return f"She said {w()}, not {w()}."
    if t == 4:
        return f"We need a {w()} for the {w()} today."
    if t == 5:
        return f"Where did you put the {w()}?"
    if t == 6:
        return f"The word {w()} comes after {w()}."
    return " ".join(w() for _ in range(r.randint(3, 6))).capitalize() + "."


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--everyday", type=float, default=0.0, help="share of lines from everyday.py (0: the first corpus)")
    ap.add_argument("--dictionary", type=float, default=0.0, help="share of lines of pronouncing-dictionary words")
    ap.add_argument("--dict", default=CMUDICT, help="the pronouncing dictionary --dictionary takes its words from")
    a = ap.parse_args()
    r = random.Random(a.seed)
    e = random.Random(a.seed + 1000)  # its own stream, so --everyday 0 keeps the first corpus line for line
    d = random.Random(a.seed + 2000)  # and --dictionary 0 keeps the others
    words = dictionary_words(a.dict) if a.dictionary > 0 else []

    def one():
        if words and d.random() < a.dictionary:
            return dictionary_sentence(d, words)
        return everyday_sentence(e) if a.everyday > 0 and e.random() < a.everyday else sentence(r)

    for line in HANDWRITTEN:
        print(line)
    for _ in range(max(0, a.n - len(HANDWRITTEN))):
        s = one()
        if r.random() < 0.25:  # two-sentence lines: pauses and sentence-initial prosody
            s += " " + one()
        print(s)


if __name__ == "__main__":
    main()
