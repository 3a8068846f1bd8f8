"""Everyday English for corpus.py: a broad hand-written vocabulary (pronouns,
determiners, the commonest nouns, verbs with all their forms, adjectives,
adverbs, number words) and plain templates that use it, so the
character-level acoustic model meets the spelling patterns of ordinary
speech and not only corpus.py's themed lists."""

SUBJECTS = [("I", 0), ("you", 0), ("we", 0), ("they", 0), ("he", 1), ("she", 1), ("it", 1),
            ("my friend", 1), ("our neighbour", 1), ("the children", 0), ("my parents", 0), ("her brother", 1),
            ("his sister", 1), ("the old man", 1), ("the young woman", 1), ("everyone", 1), ("nobody", 1),
            ("somebody", 1), ("the boys", 0), ("the girls", 0), ("their teacher", 1), ("your mother", 1),
            ("my father", 1), ("the doctor", 1), ("the driver", 1), ("the baby", 1), ("my aunt", 1),
            ("our team", 1), ("the police", 0), ("people", 0), ("the students", 0), ("a little girl", 1)]
OBJ_PRONOUNS = "me you him her it us them".split()
POSSESSIVES = "my your his her its our their".split()

THINGS = """house home room door floor wall roof garden yard street road car bike bus train plane boat shop store
market bank office school class church park lake sea beach hill field farm town city village country world
table chair bed desk sofa lamp clock phone bag box cup glass plate bowl fork knife spoon pan pot kettle
fridge oven sink shower towel soap brush comb shirt dress skirt coat hat cap shoe boot sock glove scarf belt
ring watch key lock card letter note book paper pen pencil bill coin wallet purse ticket map sign light
fire smoke rain snow wind ice fog sun moon star sky cloud air water river stream pond island forest wood
tree leaf flower grass rock stone sand mud dust dirt food meal milk egg meat fish chicken beef pork rice
bread cake pie soup salt sugar tea coffee wine beer fruit apple pear grape plum peach melon nut bean pea
corn vegetable salad sauce cream cheese butter jam honey dog cat bird cow pig sheep goat duck mouse rat
fox wolf bear lion snake frog bee fly ant spider worm man woman boy girl baby child kid friend person
people family parent mother father son daughter husband wife brother sister uncle aunt grandmother
grandfather cousin neighbour boss worker teacher doctor nurse driver cook farmer police guest owner
king queen army war peace law rule job work money price cost pay week month year day night morning
afternoon evening today tonight weekend holiday birthday party game sport song music film movie show
news story word name idea thing place way time life hand head face eye ear nose mouth tooth hair neck
arm leg foot knee back heart blood bone skin voice body mind dream plan problem question answer reason
fact truth lie joke luck chance fun trouble danger help hope fear love anger pain noise sound smell
taste colour kind part piece side end top bottom middle front edge corner line point hole gap step
stair bottle basket bucket button pocket window kitchen bathroom bedroom garage hallway""".split()

PLURAL_IRREGULAR = {"man": "men", "woman": "women", "child": "children", "person": "people", "foot": "feet",
                    "tooth": "teeth", "mouse": "mice", "sheep": "sheep", "fish": "fish", "knife": "knives",
                    "leaf": "leaves", "wife": "wives", "life": "lives", "people": "people", "police": "police",
                    "money": "money", "news": "news", "fun": "fun", "luck": "luck", "rice": "rice",
                    "peace": "peace", "blood": "blood", "air": "air", "milk": "milk", "sugar": "sugar",
                    "salt": "salt", "bread": "bread", "music": "music", "truth": "truth", "anger": "anger",
                    "pork": "pork", "beef": "beef", "dust": "dust", "dirt": "dirt", "mud": "mud", "fog": "fog",
                    "corn": "corn", "wine": "wine", "beer": "beer", "tea": "tea", "coffee": "coffee", "snow": "snow",
                    "rain": "rain", "ice": "ice", "smoke": "smoke", "sand": "sand", "fear": "fear", "hope": "hope",
                    "help": "help", "pain": "pain", "trouble": "trouble", "danger": "danger", "love": "love",
                    "work": "work", "grass": "grass", "fruit": "fruit", "water": "water", "food": "food",
                    "butter": "butter", "cheese": "cheese", "honey": "honey", "jam": "jam", "soup": "soup",
                    "cream": "cream", "sauce": "sauce", "meat": "meat", "chicken": "chicken", "army": "armies",
                    "party": "parties", "story": "stories", "family": "families", "city": "cities",
                    "country": "countries", "baby": "babies", "lady": "ladies", "fly": "flies", "boss": "bosses"}

# base, third person, past, past participle, -ing
VERB_FORMS = """be,is,was,been,being|have,has,had,had,having|do,does,did,done,doing|go,goes,went,gone,going
|come,comes,came,come,coming|get,gets,got,got,getting|make,makes,made,made,making|know,knows,knew,known,knowing
|think,thinks,thought,thought,thinking|take,takes,took,taken,taking|see,sees,saw,seen,seeing
|look,looks,looked,looked,looking|want,wants,wanted,wanted,wanting|give,gives,gave,given,giving
|use,uses,used,used,using|find,finds,found,found,finding|tell,tells,told,told,telling|ask,asks,asked,asked,asking
|work,works,worked,worked,working|seem,seems,seemed,seemed,seeming|feel,feels,felt,felt,feeling
|try,tries,tried,tried,trying|leave,leaves,left,left,leaving|call,calls,called,called,calling
|need,needs,needed,needed,needing|keep,keeps,kept,kept,keeping|let,lets,let,let,letting
|begin,begins,began,begun,beginning|help,helps,helped,helped,helping|talk,talks,talked,talked,talking
|turn,turns,turned,turned,turning|start,starts,started,started,starting|show,shows,showed,shown,showing
|hear,hears,heard,heard,hearing|play,plays,played,played,playing|run,runs,ran,run,running
|move,moves,moved,moved,moving|like,likes,liked,liked,liking|live,lives,lived,lived,living
|believe,believes,believed,believed,believing|bring,brings,brought,brought,bringing
|happen,happens,happened,happened,happening|write,writes,wrote,written,writing|sit,sits,sat,sat,sitting
|stand,stands,stood,stood,standing|lose,loses,lost,lost,losing|pay,pays,paid,paid,paying
|meet,meets,met,met,meeting|learn,learns,learned,learned,learning|change,changes,changed,changed,changing
|lead,leads,led,led,leading|understand,understands,understood,understood,understanding
|watch,watches,watched,watched,watching|follow,follows,followed,followed,following|stop,stops,stopped,stopped,stopping
|speak,speaks,spoke,spoken,speaking|read,reads,read,read,reading|spend,spends,spent,spent,spending
|grow,grows,grew,grown,growing|open,opens,opened,opened,opening|walk,walks,walked,walked,walking
|win,wins,won,won,winning|teach,teaches,taught,taught,teaching|offer,offers,offered,offered,offering
|remember,remembers,remembered,remembered,remembering|love,loves,loved,loved,loving
|consider,considers,considered,considered,considering|appear,appears,appeared,appeared,appearing
|buy,buys,bought,bought,buying|wait,waits,waited,waited,waiting|serve,serves,served,served,serving
|die,dies,died,died,dying|send,sends,sent,sent,sending|build,builds,built,built,building
|stay,stays,stayed,stayed,staying|fall,falls,fell,fallen,falling|cut,cuts,cut,cut,cutting
|reach,reaches,reached,reached,reaching|kill,kills,killed,killed,killing|raise,raises,raised,raised,raising
|pass,passes,passed,passed,passing|sell,sells,sold,sold,selling|decide,decides,decided,decided,deciding
|return,returns,returned,returned,returning|explain,explains,explained,explained,explaining
|hope,hopes,hoped,hoped,hoping|carry,carries,carried,carried,carrying|break,breaks,broke,broken,breaking
|eat,eats,ate,eaten,eating|drink,drinks,drank,drunk,drinking|sleep,sleeps,slept,slept,sleeping
|wake,wakes,woke,woken,waking|drive,drives,drove,driven,driving|ride,rides,rode,ridden,riding
|fly,flies,flew,flown,flying|swim,swims,swam,swum,swimming|sing,sings,sang,sung,singing
|dance,dances,danced,danced,dancing|laugh,laughs,laughed,laughed,laughing|cry,cries,cried,cried,crying
|smile,smiles,smiled,smiled,smiling|wash,washes,washed,washed,washing|cook,cooks,cooked,cooked,cooking
|clean,cleans,cleaned,cleaned,cleaning|close,closes,closed,closed,closing|push,pushes,pushed,pushed,pushing
|pull,pulls,pulled,pulled,pulling|throw,throws,threw,thrown,throwing|catch,catches,caught,caught,catching
|hold,holds,held,held,holding|drop,drops,dropped,dropped,dropping|pick,picks,picked,picked,picking
|fill,fills,filled,filled,filling|fix,fixes,fixed,fixed,fixing|forget,forgets,forgot,forgotten,forgetting
|rain,rains,rained,rained,raining|snow,snows,snowed,snowed,snowing|shine,shines,shone,shone,shining
|bark,barks,barked,barked,barking|ring,rings,rang,rung,ringing|hurry,hurries,hurried,hurried,hurrying
|answer,answers,answered,answered,answering|visit,visits,visited,visited,visiting|enjoy,enjoys,enjoyed,enjoyed,enjoying
|finish,finishes,finished,finished,finishing|miss,misses,missed,missed,missing|hate,hates,hated,hated,hating
|wish,wishes,wished,wished,wishing|plan,plans,planned,planned,planning|save,saves,saved,saved,saving
|share,shares,shared,shared,sharing|borrow,borrows,borrowed,borrowed,borrowing|lend,lends,lent,lent,lending
|choose,chooses,chose,chosen,choosing|wear,wears,wore,worn,wearing|draw,draws,drew,drawn,drawing
|paint,paints,painted,painted,painting|count,counts,counted,counted,counting|check,checks,checked,checked,checking
|mend,mends,mended,mended,mending|hide,hides,hid,hidden,hiding|jump,jumps,jumped,jumped,jumping
|climb,climbs,climbed,climbed,climbing|shout,shouts,shouted,shouted,shouting|knock,knocks,knocked,knocked,knocking
|worry,worries,worried,worried,worrying|agree,agrees,agreed,agreed,agreeing|arrive,arrives,arrived,arrived,arriving
|travel,travels,travelled,travelled,travelling|rest,rests,rested,rested,resting|fight,fights,fought,fought,fighting
|feed,feeds,fed,fed,feeding|fit,fits,fitted,fitted,fitting|burn,burns,burned,burned,burning
|touch,touches,touched,touched,touching|kick,kicks,kicked,kicked,kicking|mix,mixes,mixed,mixed,mixing
|shake,shakes,shook,shaken,shaking|steal,steals,stole,stolen,stealing|lie,lies,lay,lain,lying
|shut,shuts,shut,shut,shutting|hit,hits,hit,hit,hitting|hang,hangs,hung,hung,hanging|dig,digs,dug,dug,digging
|blow,blows,blew,blown,blowing|bite,bites,bit,bitten,biting|freeze,freezes,froze,frozen,freezing
|deliver,delivers,delivered,delivered,delivering|prepare,prepares,prepared,prepared,preparing
|order,orders,ordered,ordered,ordering|invite,invites,invited,invited,inviting|join,joins,joined,joined,joining""".replace("\n", "").split("|")
VERB_FORMS = [tuple(v.split(",")) for v in VERB_FORMS]
OBJECTLESS = {"be", "go", "come", "seem", "sleep", "wake", "die", "arrive", "rest", "rain", "snow", "shine", "bark",
              "laugh", "cry", "smile", "swim", "dance", "hurry", "worry", "agree", "travel", "appear", "happen",
              "stay", "fall", "lie", "sit", "stand", "live", "wait", "run", "fly", "jump", "shout", "freeze"}

DESCRIBERS = """good bad big little long short high low great small large old new young first last next early late
right wrong true false real whole free full empty easy hard simple clear open closed ready sure happy sad glad
angry tired sick well hungry thirsty busy lazy quiet loud nice kind mean fair rich poor cheap dear hot cold warm
cool wet dry clean dirty dark light bright heavy soft strong weak fast slow quick safe sweet sour fresh fat thin
deep wide near far funny silly serious strange lucky proud afraid alone alive dead huge tiny pretty lovely ugly
brown pink grey gray black white red green blue yellow round flat sharp windy sunny cloudy rainy foggy snowy
noisy famous special careful favourite important different same possible nervous excited bored surprised worried
friendly honest polite brave clever gentle terrible wonderful beautiful delicious comfortable expensive""".split()

ADVERBIALS = """again already also always almost ever never often sometimes soon still then there here today
tomorrow yesterday tonight now later early late away back home inside outside upstairs downstairs together
very really quite too rather nearly just only even once twice quickly slowly quietly loudly carefully badly
well hard fast straight everywhere somewhere anywhere nowhere abroad""".split()

TIMES = ["last night", "last week", "last year", "next week", "next month", "this morning", "this evening",
         "every day", "every morning", "on Mondays", "on weekends", "at noon", "at midnight", "in the morning",
         "in the afternoon", "in the evening", "after dinner", "before breakfast", "all day", "for an hour",
         "for a while", "two days ago", "a long time ago", "since Tuesday", "until Friday", "by the weekend",
         "in the summer", "during the winter", "at Christmas", "on her birthday", "after school", "before work"]

PLACES_EVERYDAY = ["at home", "at work", "at school", "in the kitchen", "in the garden", "in the park",
                   "by the lake", "on the beach", "at the station", "in town", "at the office", "in the shop",
                   "at the store", "on the bus", "on the train", "in bed", "upstairs", "downstairs", "next door",
                   "across the street", "down the road", "around the corner", "near the church", "on the farm",
                   "in the forest", "up the hill", "by the river", "at the market", "in the city", "in the village"]

NUMBER_WORDS = """one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand""".split()

CONNECTIVES = ["and", "but", "so", "because", "while", "when", "after", "before", "although", "until", "since",
               "as soon as", "even though", "unless", "if"]

QUESTION_WORDS = ["what", "where", "when", "why", "how", "who", "which"]


def plural(n):
    if n in PLURAL_IRREGULAR:
        return PLURAL_IRREGULAR[n]
    if n.endswith(("s", "sh", "ch", "x", "z")):
        return n + "es"
    if n.endswith("y") and n[-2] not in "aeiou":
        return n[:-1] + "ies"
    return n + "s"


def thing_phrase(r):
    n = r.choice(THINGS)
    k = r.random()
    if k < 0.25:
        return f"the {n}"
    if k < 0.45:
        return f"{r.choice(POSSESSIVES)} {n}"
    if k < 0.6:
        return f"the {r.choice(DESCRIBERS)} {n}"
    if k < 0.72:
        d = r.choice(DESCRIBERS)
        return f"{'an' if d[0] in 'aeiou' else 'a'} {d} {n}"
    if k < 0.82:
        return f"{r.choice(['some', 'these', 'those', 'many', 'a few', 'all the', 'both'])} {plural(n)}"
    if k < 0.92:
        return f"{r.choice(NUMBER_WORDS[:12])} {plural(n)}"
    return f"{r.choice(['this', 'that', 'another', 'every', 'each', 'no'])} {n}"


def clause(r):
    """A clause with a subject, a verb in one of its forms and what follows."""
    subj, third = r.choice(SUBJECTS)
    v = r.choice(VERB_FORMS)
    base, s3, past, part, ing = v
    obj = "" if base in OBJECTLESS else " " + (r.choice(OBJ_PRONOUNS) if r.random() < 0.2 else thing_phrase(r))
    tail = r.choice(["", " " + r.choice(ADVERBIALS), " " + r.choice(TIMES), " " + r.choice(PLACES_EVERYDAY)])
    be = ("am" if subj == "I" else "is" if third else "are")
    was = ("was" if subj == "I" or third else "were")
    t = r.randrange(9)
    if base == "be":
        return f"{subj} {r.choice([be, was])} {r.choice(DESCRIBERS)}{tail}"
    if t == 0:
        return f"{subj} {s3 if third else base}{obj}{tail}"
    if t == 1:
        return f"{subj} {past}{obj}{tail}"
    if t == 2:
        return f"{subj} {be} {ing}{obj}{tail}"
    if t == 3:
        return f"{subj} {'has' if third else 'have'} {part}{obj}{tail}"
    if t == 4:
        return f"{subj} {was} {ing}{obj}{tail}"
    if t == 5:
        return f"{subj} {r.choice(['will', 'can', 'could', 'should', 'might', 'must', 'would'])} {base}{obj}{tail}"
    if t == 6:
        return f"{subj} {'does' if third else 'do'} not {base}{obj}{tail}"
    if t == 7:
        return f"{subj} {r.choice(['wants', 'needs', 'tries', 'hopes', 'likes']) if third else r.choice(['want', 'need', 'try', 'hope', 'like'])} to {base}{obj}{tail}"
    return f"{subj} didn't {base}{obj}{tail}"


def question(r):
    subj, third = r.choice(SUBJECTS)
    base = r.choice(VERB_FORMS)[0]
    if base == "be":
        base = "stay"
    obj = "" if base in OBJECTLESS else " " + thing_phrase(r)
    t = r.randrange(5)
    if t == 0:
        return f"{'Does' if third else 'Do'} {subj} {base}{obj}?"
    if t == 1:
        return f"{r.choice(QUESTION_WORDS).capitalize()} did {subj} {base}{obj}?"
    if t == 2:
        return f"{r.choice(['Can', 'Will', 'Should', 'Could', 'Would'])} {subj} {base}{obj} {r.choice(TIMES)}?"
    if t == 3:
        return f"Where is {thing_phrase(r)}?"
    return f"{'Has' if third else 'Have'} {subj} ever been {r.choice(PLACES_EVERYDAY)}?"


def everyday_sentence(r):
    k = r.random()
    if k < 0.18:
        return question(r)
    if k < 0.45:
        c = r.choice(CONNECTIVES)
        s = f"{clause(r)} {c} {clause(r)}"
    elif k < 0.52:
        s = f"{r.choice(['please', 'do not', 'never', 'always', 'just'])} {r.choice(VERB_FORMS)[0]} {thing_phrase(r)} {r.choice(PLACES_EVERYDAY)}"
        s = s.replace("please be", "please be careful with").replace("not be", "not be late for")
    else:
        s = clause(r)
    s = s[0].upper() + s[1:]
    return s + r.choice([".", ".", ".", "!", "."])
