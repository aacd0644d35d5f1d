"""Caption writing for the default-model data recipe (pure functions, no I/O).

A clip's file and folder names are split into lowercase tokens (camelCase, underscores, digits and
technical tokens such as ``loop``, ``sfx``, ``mono`` or ``01`` are removed), compound tokens such as
``metalfootstep`` are segmented with the vocabulary of the rules below, and the tokens are matched
against a curated table of sound concepts.  Each concept carries plain-English noun phrases
("a dog barking") and coarse labels ("dog", "animal").  Captions are written from the matched
phrases with varied templates ("the sound of a dog barking", "dog barking sound effect", ...).
A clip whose names match no concept carries no describable meaning and is dropped by the recipe.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

# --------------------------------------------------------------------------------------------
# Tokenisation


# Tokens that say nothing about the sound (file-format, numbering, game-engine jargon).
def _words(text: str) -> list[str]:
    return text.split()


STOP_TOKENS: frozenset[str] = frozenset(
    _words(
        """
    a an the of and or to in on at by for with from is it be
    sound sounds snd sfx fx audio wav wave ogg oga mp flac opus aif aiff mono stereo loop loops looped
    sample samples smp final edit edited cut cuts version ver new old copy tmp temp test demo
    la lr ab el de en es fr gb ja ko nb nl nn sv tw zh ro ru sl bg ca be da cs pt lt
    usr share games game data base core default misc general generic common commondata res resource
    resources assets asset media mod mods public effect effects fx sfxs src file files var variant
    alt part take tk pt l r lo hi mid med min max db dbfs khz hz bit bits pcm
    std standard stdsounds custom user unit units techs tech megapack factions faction actor actors
    sounds stamps stamp tuxpaint openclonk minetest megaglest wesnoth warmux widelands hedgewars
    supertux supertuxkart scorched lincity redeclipse flightgear boswars freedroidrpg
    activities activity gcompris qml mehackit menegass freesound ocg ocd ocf
    """
    )
)

# Game and sound-library jargon -> plain word(s).
JARGON: dict[str, str] = {
    "expl": "explosion",
    "exp": "explosion",
    "explo": "explosion",
    "explode": "explosion",
    "exploding": "explosion",
    "explodes": "explosion",
    "lrgexpl": "large explosion",
    "lrg": "large",
    "fs": "footstep",
    "lachen": "laugh",
    "klopf": "knock",
    "autsch": "ouch",
    "holz": "wood",
    "oeffnen": "open",
    "quiek": "squeak",
    "zisch": "hiss",
    "schlurf": "footstep",
    "kabumm": "explosion",
    "booom": "explosion",
    "hitground": "impact",
    "metalhitground": "metal impact",
    "aaah": "scream",
    "citysounds": "city",
    "whizz": "whoosh",
    "outwater": "water splash",
    "engstart": "engine start",
    "stadium": "crowd",
    "sunny": "day",
    "nightime": "night",
    "con": "construction",
    "sml": "small",
    "smlexpl": "small explosion",
    "brk": "break",
    "metbrk": "metal break",
    "woodbrk": "wood break",
    "amb": "ambience",
    "ambi": "ambience",
    "ambient": "ambience",
    "atmo": "ambience",
    "atm": "ambience",
    "env": "ambience",
    "wpn": "weapon",
    "bd": "kick",
    "kik": "kick",
    "bassdrum": "kick",
    "sd": "snare",
    "sn": "snare",
    "jsnare": "snare",
    "rsnare": "snare",
    "hh": "hihat",
    "hhat": "hihat",
    "chh": "hihat",
    "ohh": "hihat",
    "hhclosed": "hihat",
    "hhopen": "hihat",
    "hhpedal": "hihat",
    "closehihat": "hihat",
    "openhat": "hihat",
    "pedalhihat": "hihat",
    "cc": "cymbal",
    "rc": "cymbal",
    "crash": "crash",
    "ft": "tom",
    "floortom": "tom",
    "tomh": "tom",
    "rs": "rimshot",
    "rim": "rimshot",
    "rimclick": "rimshot",
    "guit": "guitar",
    "perc": "percussion",
    "elec": "electronic",
    "trafic": "traffic",
    "croud": "crowd",
    "foule": "crowd",
    # Czech file names (berusky2-data)
    "ptak": "bird",
    "voda": "water",
    "vitr": "wind",
    "krysa": "rat",
    "dvere": "door",
    "hrom": "thunder",
    "blesk": "lightning",
    "bubliny": "bubbles",
    "exploze": "explosion",
    "vytah": "elevator",
    "tlacitko": "button",
    "plane": "airplane",
    "aeroplane": "airplane",
    "chopper": "helicopter",
    "heli": "helicopter",
    "clic": "click",
    "clik": "click",
    "radclik": "radio click",
    "foorstep": "footstep",
    "footsteps": "footstep",
    "mstep": "footstep metal",
    "hstep": "footstep",
    "concstep": "footstep concrete",
    "watr": "water",
    "pkup": "pickup",
    "sel": "select",
    "ack": "acknowledge",
    "strt": "start",
    "richet": "ricochet",
    "ricoche": "ricochet",
    "mgbar": "machine gun",
    "machgf": "machine gun",
    "mg": "machine gun",
    "hmg": "machine gun",
    "smg": "machine gun",
    "minigun": "machine gun",
    "chaingun": "machine gun",
    "gatling": "machine gun",
    "vulcanf": "machine gun",
    "machinegun": "machine gun",
    "machinegunner": "machine gun",
    "bazoo": "bazooka",
    "artil": "artillery",
    "tankmove": "tank move",
    "carhorn": "car horn",
    "honkhonk": "car horn",
    "klaxon": "car horn",
    "claxon": "car horn",
    "firetruck": "fire truck siren",
    "policecar": "police siren",
    "birdchirp": "bird chirp",
    "lightningbolt": "thunder",
    "cycadas": "cicada",
    "nightcrickets": "cricket night",
    "oceanwaves": "ocean wave",
    "wavecrash": "ocean wave",
    "waverocky": "ocean wave",
    "windgust": "wind",
    "windleaves": "wind leaves",
    "windstorm": "wind storm",
    "windhowling": "wind howl",
    "windoutside": "wind",
    "snowstorm": "wind snow",
    "stormwind": "wind storm",
    "stormrain": "rain storm",
    "stormbolts": "thunder",
    "blowwind": "wind",
    "hollowwind": "wind",
    "dizzywind": "wind",
    "wastewind": "wind",
    "alienwind": "wind",
    "demonwind": "wind",
    "arcticwind": "wind",
    "cavedrip": "water drip",
    "waterdrip": "water drip",
    "drip": "water drip",
    "droplet": "water drip",
    "watersplash": "water splash",
    "splashin": "water splash",
    "splashout": "water splash",
    "splosh": "water splash",
    "swimstep": "swim",
    "swimming": "swim",
    "waterfontain": "fountain",
    "pipewater": "water pipe",
    "beerbubble": "bubble pour",
    "winebubble": "bubble pour",
    "woodcutting": "chop wood",
    "woodcutter": "chop wood",
    "benchsaw": "saw",
    "connersaw": "saw",
    "sawing": "saw",
    "sawmill": "saw mill",
    "stonecutter": "chisel stone",
    "stonemason": "chisel stone",
    "stonegrind": "grind stone",
    "hammering": "hammer",
    "metalbang": "metal impact",
    "stonebang": "stone impact",
    "metalhit": "metal impact",
    "metalclang": "metal impact",
    "clank": "metal impact",
    "clang": "metal impact",
    "breakglass": "glass break",
    "breakwood": "wood break",
    "breakmetal": "metal break",
    "breakelectric": "electric spark",
    "glassbreak": "glass break",
    "icecrash": "ice break",
    "metalfootstep": "footstep metal",
    "typewriter": "typewriter",
    "keyboard": "keyboard",
    "mouseclick": "mouse click",
    "menuclick": "click",
    "shutterclick": "camera shutter",
    "camerashutter": "camera shutter",
    "maledeath": "male death",
    "femaledeath": "female death",
    "malehurt": "male pain",
    "femalehurt": "female pain",
    "civmaledeath": "male death",
    "civfemdeath": "female death",
    "civfemscream": "female scream",
    "civmalehurt": "male pain",
    "wilhelmscream": "scream",
    "screaming": "scream",
    "screams": "scream",
    "laughing": "laugh",
    "laughter": "laugh",
    "giggle": "laugh",
    "hahaha": "laugh",
    "haha": "laugh",
    "hohoho": "laugh",
    "coughing": "cough",
    "poisoncough": "cough",
    "snoring": "snore",
    "sneezing": "sneeze",
    "breathing": "breath",
    "breathe": "breath",
    "gasp": "gasp",
    "applauses": "applause",
    "cheeringloop": "cheer",
    "cheering": "cheer",
    "swordhit": "sword",
    "swordman": "sword",
    "stickfighter": "warrior",
    "wardrums": "war drum",
    "heartbeat": "heartbeat",
    "swordslice": "sword",
    "swordstaff": "sword",
    "arrowfly": "arrow",
    "arrowhit": "arrow",
    "firearrowhit": "arrow",
    "bowling": "bowling",
    "shotgunfire": "shotgun",
    "shotgunreload": "reload",
    "sniperreload": "reload",
    "gunshot": "gunshot",
    "thunderstick": "gunshot",
    "rifle": "gunshot",
    "pistol": "gunshot",
    "musket": "gunshot",
    "jeteengine": "jet",
    "jetengine": "jet",
    "steamlocomotive": "steam train",
    "locomotive": "train",
    "railtrain": "train",
    "chicken": "chicken",
    "chickens": "chicken",
    "hen": "chicken",
    "cattle": "cow",
    "cows": "cow",
    "moo": "cow",
    "bull": "cow",
    "bullfrog": "frog",
    "bullfrogs": "frog",
    "ox": "cow",
    "bison": "cow",
    "dogs": "dog",
    "puppy": "dog",
    "bark": "dog",
    "barkgrowl": "dog growl",
    "cats": "cat",
    "blackcat": "cat",
    "kitten": "cat",
    "meow": "cat",
    "frogs": "frog",
    "sheep": "sheep",
    "lamb": "sheep",
    "ram": "sheep",
    "pigs": "pig",
    "boar": "pig",
    "bees": "bee",
    "beesting": "bee",
    "beehive": "bee",
    "crickets": "cricket",
    "birds": "bird",
    "crows": "crow",
    "quackquack": "duck",
    "quack": "duck",
    "drake": "duck",
    "gander": "goose",
    "gull": "seagull",
    "roaaar": "roar",
    "rubberduck": "rubber duck",
    "doorknock": "door knock",
    "knocking": "knock",
    "washingmachine": "washing machine",
    "vacuumcleaner": "vacuum cleaner",
    "vacuum": "vacuum cleaner",
    "toothbrush": "brush teeth",
    "ticking": "tick",
    "tock": "tick",
    "tictac": "tick",
    "alarmclock": "alarm clock",
    "alarmalert": "alarm",
    "firecracker": "firework",
    "fireworks": "firework",
    "dynamite": "explosion",
    "tnt": "explosion",
    "nuke": "explosion",
    "bomb": "explosion",
    "boom": "explosion",
    "cineboom": "explosion",
    "blast": "explosion",
    "kaboom": "explosion",
    "applause": "applause",
    "clapping": "clap",
    "claps": "clap",
    "handclap": "clap",
    "burp": "burp",
    "gulp": "gulp",
    "slurp": "slurp",
    "chewing": "eat",
    "eating": "eat",
    "crunch": "crunch",
    "helicoptere": "helicopter",
    "cessna": "propeller airplane",
    "prop": "propeller",
    "turboprop": "propeller airplane",
    "turbojet": "jet",
    "wooshing": "whoosh",
    "woosh": "whoosh",
    "swoosh": "whoosh",
    "swish": "whoosh",
    "swash": "whoosh",
    "nexwhoosh": "whoosh",
    "thwack": "thud",
    "thuds": "thud",
    "bumphard": "bump",
    "bumpsoft": "bump",
    "honk": "car horn",
    "ferrari": "car engine",
    "ferrarif": "car engine",
    "lamborghini": "car engine",
    "lamborghinidiablo": "car engine",
    "porsche": "car engine",
    "viper": "car engine",
    "cleanviper": "car engine",
    "lotus": "car engine",
    "mclaren": "car engine",
    "mclarenf": "car engine",
    "corolla": "car engine",
    "renault": "car engine",
    "alpha": "car engine",
    "romeo": "car engine",
    "nsx": "car engine",
    "turbo": "car engine",
    "backfire": "car engine",
    "gearbox": "car engine",
    "doorbell": "doorbell",
    "savebell": "bell",
    "gong": "gong",
    "chime": "chime",
    "chimes": "chime",
}

_CAMEL_1 = re.compile(r"([a-z])([A-Z])")
_CAMEL_2 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_NON_ALPHA = re.compile(r"[^A-Za-z]+")
_EXT = re.compile(r"\.(wav|ogg|oga|flac|mp3|opus|aiff?|au|raw)$", re.IGNORECASE)
_FREESOUND_ID = re.compile(r"^\d+__[^_]+__")
_ARCHIVE = re.compile(r"\.(zip|pk3|wz|rcc|cat|tar|gz)$", re.IGNORECASE)


def split_name(name: str) -> list[str]:
    """Split a file or folder name into lowercase word tokens.

    camelCase, underscores, hyphens, dots and digits separate words; the file extension, freesound
    ``ID__user__`` prefixes and one-letter fragments are dropped.
    """
    name = _EXT.sub("", name)
    name = _FREESOUND_ID.sub("", name)
    name = _CAMEL_1.sub(r"\1 \2", name)
    name = _CAMEL_2.sub(r"\1 \2", name)
    words = _NON_ALPHA.sub(" ", name).lower().split()
    return [w for w in words if len(w) > 1]


def normalise_tokens(tokens: list[str], vocab: frozenset[str] | None = None) -> list[str]:
    """Map jargon to plain words, segment compound tokens and drop technical tokens."""
    voc = VOCAB if vocab is None else vocab
    out: list[str] = []
    for tok in tokens:
        mapped = JARGON.get(tok)
        if mapped is not None:
            out.extend(mapped.split())
            continue
        if tok in STOP_TOKENS:
            continue
        if tok in voc or len(tok) < 6:
            out.append(tok)
            continue
        parts = segment_compound(tok, voc)
        if parts:
            for p in parts:
                m = JARGON.get(p)
                out.extend(m.split() if m else [p])
        else:
            out.append(tok)
    return [t for t in out if t not in STOP_TOKENS]


def segment_compound(token: str, vocab: frozenset[str]) -> list[str]:
    """Split a run-together token ("metalfootstep") into known words, or return [].

    A full segmentation into vocabulary words (each at least 3 letters) is preferred; failing that,
    known words of at least 6 letters found inside the token are returned (longest first, no overlap).
    """
    n = len(token)
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for i in range(n):
        cur = best[i]
        if cur is None:
            continue
        for j in range(i + 3, n + 1):
            piece = token[i:j]
            if piece != token and (piece in vocab or piece in JARGON):
                cand = [*cur, piece]
                old = best[j]
                if old is None or len(cand) < len(old):
                    best[j] = cand
    full = best[n]
    if full is not None and len(full) > 1:
        return full
    found: list[tuple[int, str]] = []
    taken = [False] * n
    for word in sorted((w for w in vocab if len(w) >= 6 and w in token), key=lambda w: (-len(w), w)):
        start = token.find(word)
        while start >= 0:
            if not any(taken[start : start + len(word)]):
                for k in range(start, start + len(word)):
                    taken[k] = True
                found.append((start, word))
                break
            start = token.find(word, start + 1)
    return [w for _, w in sorted(found)]


# --------------------------------------------------------------------------------------------
# Concepts


@dataclass(frozen=True)
class Concept:
    """A sound concept: a token pattern, plain-English noun phrases and coarse labels."""

    pattern: tuple[tuple[str, ...], ...]
    phrases: tuple[str, ...]
    labels: tuple[str, ...]
    tier: int = 1  # 1: concrete sound source; 2: generic action, used only when nothing concrete matched

    def match(self, tokens: list[str]) -> list[int] | None:
        """Indices of the tokens consumed by this pattern, or None when it does not match."""
        used: list[int] = []
        for group in self.pattern:
            hit = None
            for i, tok in enumerate(tokens):
                if i in used:
                    continue
                for alt in group:
                    if (alt.endswith("*") and tok.startswith(alt[:-1])) or tok == alt:
                        hit = i
                        break
                if hit is not None:
                    break
            if hit is None:
                return None
            used.append(hit)
        return used


def _c(pattern: str, labels: str, phrases: str, tier: int = 1) -> Concept:
    groups = tuple(tuple(g.split("|")) for g in pattern.split())
    return Concept(
        pattern=groups,
        phrases=tuple(p.strip() for p in phrases.split(";") if p.strip()),
        labels=tuple(lb.strip() for lb in labels.split(",") if lb.strip()),
        tier=tier,
    )


_DOORBELL = "a doorbell ringing; someone ringing the doorbell; a doorbell chiming"

# Surfaces for footsteps: token alternatives -> phrase.
SURFACES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("grass", "lawn"), "grass"),
    (("gravel",), "gravel"),
    (("snow",), "snow"),
    (("ice",), "ice"),
    (("sand",), "sand"),
    (("dirt", "mud", "crumbly", "earth"), "dirt"),
    (("wood", "wooden", "planks", "floorboard"), "a wooden floor"),
    (("metal", "steel", "iron"), "metal"),
    (("stone", "rock", "hard", "cracky", "cobble"), "stone"),
    (("concrete", "asphalt"), "concrete"),
    (("tile", "tiles", "linoleum"), "a tiled floor"),
    (("carpet",), "carpet"),
    (("water", "splash", "puddle"), "shallow water"),
    (("leaves", "leaf"), "dry leaves"),
    (("glass",), "glass"),
)

_FOOTSTEP = _c(
    "footstep*|step|steps|walk|walking|walks|run|running|stomp",
    "footsteps,human",
    "footsteps{on}; someone walking{on}; a person's footsteps{on}; steps{on}",
)

# People (game unit roles included) whose death cries and pain grunts are described as human.
HUMANS = (
    "male|man|human|civilian|men|worker|guard|technician|warrior|shaman|archmage|soldier|knight|peasant|"
    "citizen|villager|infantry|engineer|medic|grenadier|assault|marine|priest|hero|spearman|swordman|"
    "summoner|battlemage|initiate|dwarf|elf|player|tux|influencer|civ"
)

# The table.  Pattern: groups separated by spaces must all be present (in any order); alternatives
# inside a group are separated by "|"; a trailing "*" matches a prefix.  Phrases are separated by ";".
CONCEPTS: tuple[Concept, ...] = (
    # --- domestic and farm animals
    _c("dog growl|growling|snarl", "dog,animal", "a dog growling; an angry dog snarling; a growling dog"),
    _c("dog|hound|wolf whine|whimper", "dog,animal", "a dog whining; a whimpering dog"),
    _c("dog|hound", "dog,animal", "a dog barking; a barking dog; a dog barking loudly; a dog"),
    _c("wolf|wolves howl*", "wolf,animal", "a wolf howling; wolves howling"),
    _c("wolf|wolves|coyote", "wolf,animal", "a wolf growling and howling; a wild wolf; a wolf snarling"),
    _c("growl|growls|snarl|snarls", "growl,animal", "an animal growling; a beast snarling"),
    _c(
        "rooster|cock|cockerel",
        "rooster,bird,animal",
        "a rooster crowing; a rooster crowing loudly; a cock-a-doodle-doo",
    ),
    _c("chicken|chick", "chicken,hen,bird,animal", "chickens clucking; a hen clucking; a hen; farm chickens"),
    _c("pig|piglet|hog|swine", "pig,animal", "a pig oinking; pigs grunting; a pig squealing; a pig"),
    _c("cow|calf|moo", "cow,animal", "a cow mooing; cattle mooing; a mooing cow; a cow"),
    _c("sheep|goat|ewe", "sheep,animal", "a sheep bleating; sheep baaing; a goat bleating"),
    _c(
        "horse canter|gallop*|trot*|hoof*|walk|ride|riding",
        "horse,animal",
        "a horse galloping; horse hooves clopping; a horse trotting",
    ),
    _c(
        "horse|horses|horseman|pony|donkey|mule|zebra",
        "horse,animal",
        "a horse neighing; a horse whinnying; a horse snorting",
    ),
    _c("cat|kitty", "cat,animal", "a cat meowing; a cat; a cat mewing"),
    _c(
        "lion|tiger|panther|leopard",
        "big cat,animal",
        "a lion roaring; a big cat roaring; a big cat growling",
    ),
    _c("duck|ducks|goose|geese", "duck,bird,animal", "a duck quacking; ducks quacking; a goose honking"),
    _c("rubber duck", "squeak,toy", "a rubber duck squeaking; a squeaky toy"),
    _c("turkey|gobble", "turkey,bird,animal", "a turkey gobbling"),
    _c("frog|frogs|toad|croak*", "frog,animal", "frogs croaking; a frog croaking; a frog ribbiting"),
    _c("cat|kitten meow*|purr*", "cat,animal", "a cat meowing; a kitten mewing"),
    _c("elephant|mammoth|mammut", "elephant,animal", "an elephant trumpeting; an elephant"),
    _c("camel|dromedary|llama", "camel,animal", "a camel grunting; a camel groaning"),
    _c("monkey|chimp|ape|gorilla", "monkey,animal", "a monkey screeching; apes hooting"),
    _c("bear|bears|yeti", "bear,animal", "a bear growling; a bear roaring; a large beast roaring"),
    _c("deer|stag|moose|elk|caribou|doe", "deer,animal", "a deer calling; a stag bellowing"),
    _c(
        "rabbit|hare|bunny|squirrel|mouse|mice|rat|rats|hamster|beaver|ferret|badger",
        "rodent,animal",
        "a small animal squeaking; a rodent squeaking; a little animal chittering",
    ),
    _c("snake|hiss|hisses|hissing|iguana|lizard", "hiss,animal", "a snake hissing; a hissing sound"),
    _c("whale|orca|dolphin", "whale,animal", "a whale singing underwater; a dolphin clicking"),
    _c("sea lion", "seal,animal", "a sea lion barking"),
    _c(
        "giraffe|hippopotamus|hippo|rhino|koala|wombat|animal|animals|fauna|creature",
        "animal",
        "an animal call; a wild animal; an animal making noise",
    ),
    _c(
        "farm|farmstead|farmyard|barn|stable|corral",
        "farm animals,animal",
        "farm animals; animals on a farm",
        2,
    ),
    # --- birds and insects
    _c("crow|crows|raven|caw*", "crow,bird,animal", "a crow cawing; crows cawing; a raven croaking"),
    _c("owl|owls|hoot*", "owl,bird,animal", "an owl hooting; an owl hooting at night"),
    _c("cuckoo", "cuckoo,bird,animal", "a cuckoo calling; a cuckoo bird"),
    _c("seagull|gull|gulls|albatross", "seagull,bird,animal", "seagulls crying; a seagull calling"),
    _c(
        "eagle|hawk|falcon|vulture|gryphon|griffin",
        "bird of prey,bird,animal",
        "a hawk screeching; an eagle crying; a bird of prey screech",
    ),
    _c(
        "peacock|flamingo|penguin|parrot|tucan|toucan|quetzal|nandou|heron|exotic",
        "bird,animal",
        "an exotic bird calling; a tropical bird squawking",
    ),
    _c(
        "bird|birds|chirp*|tweet*|songbird|blackbird|lark|sparrow|robin|nightingale|birdsong|morning",
        "chirping birds,bird,animal",
        "birds chirping; birds singing; a bird chirping; birdsong; chirping birds",
    ),
    _c("bird|birds flap*|flutter*|wings|fly|flying", "bird wings,bird,animal", "a bird flapping its wings"),
    _c("bat|bats flap*|flapping|fly|wings", "bat,animal", "bats flapping their wings; flapping wings"),
    _c("bat|bats", "bat,animal", "bats squeaking; a bat"),
    _c(
        "cricket|crickets|grasshopper|cicada|night",
        "crickets,insect,animal",
        "crickets chirping; crickets at night; chirping crickets; cicadas buzzing",
    ),
    _c(
        "bee|bees|wasp|hornet|bumblebee|buzz|buzzing|insect|insects|mosquito|fly|flies",
        "insects,bee,animal",
        "bees buzzing; an insect buzzing; a buzzing bee; insects buzzing",
    ),
    _c(
        "spider|bloodspider|pincers|claws|chitter*",
        "creature,animal",
        "a creature skittering; insect legs clicking",
    ),
    _c(
        "monster|ogre|troll|orc|goblin|beast|dragon|behemoth|golem|daemon|demon|zombie|ghoul|wose|"
        "naga|lich|ghost|mummy|skeleton|tusker|gryphon|alien|aliens|ortnok|shevaar|taman|slime|worm|"
        "mermaid|mermen|genie",
        "monster,creature",
        "a monster growling; a creature roaring; a monster grunting; a scary creature",
        2,
    ),
    # --- weather and nature
    _c(
        "thunder|thunderstorm|lightning|storm",
        "thunderstorm,thunder,weather",
        "thunder rumbling; a thunderstorm; a thunderclap; thunder crashing during a storm",
    ),
    _c(
        "rain|raining|rainfall|drizzle|shower",
        "rain,weather,water",
        "rain falling; heavy rain coming down; raindrops falling; the sound of rain; heavy rain",
    ),
    _c("rain windshield|window|roof", "rain,weather,water", "rain on a window; rain drumming on a roof"),
    _c(
        "wind|breeze|gust|gale|howl",
        "wind,weather",
        "wind blowing; a strong wind; wind howling; gusts of wind; a whistling wind",
    ),
    _c("wind leaves|tree|trees|forest", "wind,weather,leaves", "wind rustling the leaves; wind in the trees"),
    _c(
        "ocean|sea|waves|surf|beach|shore|seaside|coast",
        "sea waves,water",
        "ocean waves crashing; sea waves on a beach; the surf breaking; waves crashing on the shore",
    ),
    _c(
        "waterfall|falls|cascade",
        "waterfall,water",
        "a waterfall; water rushing down a waterfall; a cascade of water",
    ),
    _c(
        "river|stream|creek|brook|fountain|lake|canal",
        "stream,water",
        "a flowing stream; a river flowing; water trickling in a creek; a babbling brook",
    ),
    _c(
        "water drip",
        "water drops,water",
        "water dripping; drops of water; water drops falling; a dripping tap",
    ),
    _c(
        "bubble|bubbles|blub|gurgle|gloop|boil*",
        "bubbles,water",
        "water bubbling; bubbles gurgling; liquid bubbling",
    ),
    _c("bubble pour", "pouring,water", "a liquid being poured; a drink pouring and fizzing"),
    _c("pour|pouring|fill|filling", "pouring water,water", "water being poured; pouring water into a glass"),
    _c(
        "water splash|splat*|impact|hit|land|drop",
        "splash,water",
        "a splash of water; something splashing into water; water splashing",
    ),
    _c(
        "splash|splashing|plop|splish|dive|drown*|sink",
        "splash,water",
        "a splash of water; something splashing into water; water splashing",
    ),
    _c(
        "underwater|submerge*|swim|diving",
        "underwater,water",
        "underwater bubbling; someone swimming in water",
    ),
    _c("water|waters|liquid|wet|pipe", "water", "running water; water flowing; water sloshing"),
    _c(
        "fire|flame|flames|burn*|campfire|fireplace|torch|embers|bonfire|blaze|flamethrower|napalm|smolder",
        "crackling fire,fire",
        "a fire crackling; crackling flames; a burning fire; a campfire crackling",
    ),
    _c(
        "gun|guns|shotgun|rifle|pistol|cannon|weapon|dart|dartfire|bow|crossbow|missile|rocket|laser|plasma|machine|"
        "mortar|artillery|turret|gturret|tank|bazooka|musket|flak fire|firing|shot|shoot|shooting",
        "gunshot,weapon",
        "a weapon firing; a gun being fired; a shot being fired",
    ),
    _c("fire extinguish*", "fire,hiss", "a fire being extinguished; flames hissing out"),
    _c("lava|magma", "lava,fire", "bubbling lava; molten lava rumbling"),
    _c("steam|vapour|vapor", "steam,hiss", "steam hissing; a burst of steam"),
    _c("ice|icicle|freeze|frozen", "ice", "ice cracking; ice shattering"),
    _c(
        "earthquake|quake|rumble|rumbling|cave",
        "rumble",
        "a deep rumble; an earthquake rumbling; rocks rumbling",
    ),
    _c("tree fall*|falling|fell|timber", "tree falling,wood", "a tree falling; a tree crashing down"),
    _c(
        "bush|leaves|rustle|rustling|grass|foliage",
        "rustling,leaves",
        "leaves rustling; rustling in the bushes",
    ),
    _c(
        "forest|jungle|swamp|temperate|tropical|country|countryside|park|parkland|meadow|garden|field|safari",
        "nature ambience",
        "forest ambience; nature sounds outdoors; the countryside ambience",
        2,
    ),
    _c("night", "night ambience", "a quiet night ambience", 2),
    _c(
        "day|morning tileset*|ambience|ambient",
        "nature ambience,chirping birds",
        "birds singing in the daytime; a daytime nature ambience with birds",
    ),
    _c("desert|sand|dune", "desert ambience", "desert wind ambience", 2),
    # --- human non-speech sounds
    _c(
        "cough|coughs|hack", "coughing,human", "a person coughing; someone coughing; a man coughing; coughing"
    ),
    _c("sneeze|achoo", "sneezing,human", "a person sneezing; someone sneezing"),
    _c("snore|snores|sleep|sleeping", "snoring,human", "a person snoring; someone snoring loudly"),
    _c(
        "breath|breathe|inhale|exhale|pant|panting|sigh",
        "breathing,human",
        "a person breathing; heavy breathing; someone breathing in and out",
    ),
    _c("gasp", "gasp,human", "a person gasping; someone gasping"),
    _c(
        "laugh|chuckle|giggle|cackle|haha",
        "laughing,human",
        "a person laughing; someone laughing; laughter; a man laughing",
    ),
    _c("witch|witches|female|woman laugh", "laughing,human", "a woman laughing; a witch cackling"),
    _c("baby|infant|newborn", "crying baby,human", "a baby crying; an infant crying; a crying baby"),
    _c("cry|crying|sob|weep|wail|wailing", "crying,human", "a person crying; someone wailing; sobbing"),
    _c("scream|shriek|yell|shout", "scream,human", "a person screaming; a loud scream; someone shrieking"),
    _c("female|woman|girl|civfem scream|shriek", "scream,human", "a woman screaming; a female scream"),
    _c(
        f"{HUMANS} die|death|dying|dead|kill*",
        "scream,human",
        "a man screaming as he dies; a dying man's scream; a death scream",
    ),
    _c(
        "female|woman|girl die|death|dying|dead",
        "scream,human",
        "a woman screaming as she dies; a woman's dying scream",
    ),
    _c(
        f"{HUMANS} pain|hurt|hit|ow|ouch|ooff|ugh|damage|injur*",
        "grunt,human",
        "a man grunting in pain; a man groaning; someone crying out in pain",
    ),
    _c(
        "female|woman|girl pain|hurt|hit|ow|ouch|ooff|ugh|damage|injur*",
        "grunt,human",
        "a woman crying out in pain; a woman groaning",
    ),
    _c(
        "pain|hurt|ow|ouch|ooff|ugh|groan|moan|grunt|grunts|uhuh|oof",
        "grunt,human",
        "someone groaning in pain; a grunt; a pained groan",
    ),
    _c(
        "clap|claps|applause|applaud",
        "clapping,human",
        "hands clapping; people clapping; applause; a round of applause",
    ),
    _c(
        "party|partying",
        "crowd,human",
        "people chatting at a party; a lively party; a crowd of people talking",
    ),
    _c(
        "cheer|cheers|crowd|audience|spectators|hooray|sports",
        "crowd,human",
        "a crowd cheering; people cheering; a cheering crowd",
    ),
    _c("whistle whistling|human|man|person", "whistling,human", "a person whistling"),
    _c("burp|belch", "burp,human", "a person burping; a loud burp"),
    _c(
        "gulp|swallow|slurp|sip|drink|drinking",
        "drinking sipping,human",
        "someone drinking; a person gulping a drink; slurping a drink; sipping",
    ),
    _c(
        "eat|eating|chew|chewing|munch|bite|crunch",
        "eating,human",
        "someone eating; chewing and crunching food",
    ),
    _c("kiss|kissing", "kiss,human", "a kiss; a smooch"),
    _c("heartbeat|heart", "heartbeat", "a heart beating; a heartbeat"),
    _c("yawn", "yawn,human", "someone yawning"),
    _c("hiccup", "hiccup,human", "someone hiccuping"),
    _c("brush teeth", "brushing teeth,human", "someone brushing their teeth; a toothbrush scrubbing teeth"),
    # --- household and everyday objects
    _c(
        "door knock", "door knock,door", "knocking on a door; someone knocking on a door; a knock at the door"
    ),
    _c("knock|knocks|rap", "door knock,door", "knocking on wood; a knock; someone knocking"),
    _c(
        "door|gate|hatch|doors creak*|squeak*",
        "door wood creaks,door",
        "a door creaking; a creaky door opening; a squeaky door hinge",
    ),
    _c("creak|creaking|creaks|squeak|squeaky", "creak", "a creaking sound; wood creaking; a squeak"),
    _c(
        "door|doors|gate|fencegate|gates|stonegate|hatch|airlock slam|slams|close|closing|closed|shut",
        "door,door close",
        "a door closing; a door slamming shut; a door being shut",
    ),
    _c(
        "door|doors|gate|fencegate|gates|stonegate|hatch open|opening|opened",
        "door,door open",
        "a door opening; someone opening a door; a door swinging open",
    ),
    _c("door|doors|gate|fencegate|gates|stonegate|hatch", "door", "a door; a door opening and closing"),
    _c("window|windows open|opening|close|closing", "window", "a window being opened; a window sliding shut"),
    _c(
        "chest|drawer|box|crate|lid|compartment open|opening|close|closing",
        "box",
        "a wooden chest opening; a lid being opened; a box closing",
    ),
    _c("doorbell", "doorbell,bell", _DOORBELL),
    _c("door bell|bells", "doorbell,bell", _DOORBELL),
    _c("bell|bells ring|rings|ringing", "bell", "a bell ringing; a small bell ringing"),
    _c("staple|stapler gun|guns", "stapler", "a staple gun firing; a staple gun shooting a staple"),
    _c(
        "ring|phone|telephone|ringing|ringtone",
        "telephone,bell",
        "a telephone ringing; a phone ringing; a bell ringing",
    ),
    _c(
        "clock|ticking|tick|tock|metronome|timer|countdown|stopwatch",
        "clock tick,clock",
        "a clock ticking; the tick-tock of a clock; a ticking timer",
    ),
    _c(
        "alarm clock",
        "clock alarm,alarm",
        "an alarm clock ringing; an alarm clock going off; a beeping alarm clock",
    ),
    _c(
        "alarm|alert|buzzer|warning|klaxon",
        "alarm",
        "an alarm going off; a warning alarm sounding; an alarm beeping",
    ),
    _c("siren|sirens", "siren", "a siren wailing; an emergency siren; a police siren"),
    _c("police siren", "siren,vehicle", "a police siren wailing; a police car siren"),
    _c("fire truck siren", "siren,vehicle", "a fire truck siren; a fire engine siren wailing"),
    _c(
        "bell|bells|church|chapel|carillon|belltower",
        "church bells,bell",
        "a bell ringing; bells ringing; a church bell tolling; chiming bells",
    ),
    _c("gong|chime|chimes|triangle", "bell", "a gong being struck; a chime ringing; a metal chime"),
    _c(
        "keyboard|typing|keypress|keystroke|key|keys|typewriter|bucklespring",
        "keyboard typing,keyboard,click",
        "typing on a keyboard; keyboard keys clicking; someone typing; a keyboard clacking",
    ),
    _c("typewriter", "keyboard typing,typewriter", "a typewriter typing; the clack of a typewriter"),
    _c(
        "mouse click",
        "mouse click,click",
        "a computer mouse clicking; a mouse click; clicking a mouse button",
    ),
    _c(
        "click|clicks|clicking|button|switch|toggle|lever|press",
        "click",
        "a click; a button clicking; a switch being flipped",
    ),
    _c("camera shutter|picture|photo|screenshot", "camera", "a camera shutter clicking; a photo being taken"),
    _c("camera", "camera", "a camera shutter clicking", 2),
    _c(
        "washing machine|washer|laundry",
        "washing machine,machine",
        "a washing machine running; a washing machine spinning",
    ),
    _c("vacuum cleaner|hoover", "vacuum cleaner,machine", "a vacuum cleaner running; someone vacuuming"),
    _c("toilet|flush|flushing", "toilet flush,water", "a toilet flushing; a toilet being flushed"),
    _c("kettle|boiling", "kettle", "a kettle boiling; a whistling kettle"),
    _c(
        "dishes|plate|plates|cutlery|cup|mug|bottle|bottles",
        "dishes,glass",
        "glass bottles clinking; dishes clattering",
    ),
    _c("can open|opening|pop|tab|soda|fizz", "can opening", "a soda can being opened; a can popping open"),
    _c("fizz|fizzle|fizzy|soda|carbonat*", "fizz", "a fizzing drink; fizzing bubbles"),
    _c(
        "glass break|breaks|breaking|broken|shatter|smash|crash",
        "glass breaking,glass",
        "glass breaking; glass shattering; a window smashing; breaking glass",
    ),
    _c(
        "glass|glasses|window|crystal|crystallo shatter|break|broken|smash|crack",
        "glass breaking,glass",
        "glass shattering; a glass breaking",
    ),
    _c("glass|glasses|crystal|crystallo", "glass", "a glass clinking; glass tinkling", 2),
    _c("shatter|shattering|smash", "glass breaking,glass", "something shattering; a smash", 2),
    _c(
        "paper|book|page|pages|scroll|sign|map|newspaper",
        "paper",
        "paper rustling; pages turning; a book page flipping",
    ),
    _c("scissors|cut|cutting|snip", "scissors", "scissors cutting; scissors snipping", 2),
    _c("zipper|zip", "zipper", "a zipper being zipped"),
    _c(
        "coin|coins|money|cash|gold|goldping|goldspin|bought|sold|shop",
        "coins,money",
        "coins jingling; coins clinking; a coin dropping",
        2,
    ),
    _c("keys|keychain|jingle|jingling", "keys", "keys jingling; a bunch of keys jangling"),
    _c(
        "pen|pencil|chalk|marker|eraser|erase|writing|scribble|scratch|draw",
        "writing",
        "a pencil scratching on paper; chalk on a blackboard; someone writing",
    ),
    _c("footstep|walking|shoes", "footsteps,human", "footsteps; someone walking"),
    _c("sweep|broom|sweeping", "sweeping", "someone sweeping with a broom"),
    _c("ball bounce|bounces|bouncing", "ball", "a ball bouncing; a bouncing ball"),
    _c(
        "bounce|bouncing|boing|boinggg|spring|trampoline|bumper|jumppad",
        "boing",
        "a springy boing; a bouncing spring sound; a cartoon boing",
        2,
    ),
    _c("bowling|strike|pins", "bowling", "a bowling ball rolling; bowling pins crashing"),
    _c("balloon|inflate|deflate|pump", "balloon", "a balloon being inflated; air pumping"),
    _c("pop|pops|popping|plopp|cork", "pop", "a pop; something popping", 2),
    _c("whip|whipcrack", "whip", "a whip cracking"),
    _c(
        "slap|smack|punch|fist|firepunch|kick|hit|strike",
        "punch,impact",
        "a punch landing; a slap; someone being hit",
        2,
    ),
    _c(
        "squish|squishy|squelch|splat|splatter|gib|flesh|fleshimp|fleshstab|slime|goo|goop",
        "squish",
        "a wet squish; a gooey splat; a squelching sound",
        2,
    ),
    # --- tools, work and machines
    _c("chainsaw", "chainsaw,saw,tool", "a chainsaw running; a chainsaw cutting wood; a revving chainsaw"),
    _c("saw|sawing|handsaw", "hand saw,saw,tool", "a saw cutting wood; someone sawing wood; a hand saw"),
    _c("sawmill|circular|bandsaw|tablesaw", "saw,machine", "a sawmill cutting logs; a circular saw buzzing"),
    _c(
        "chop|chopping|axe|hatchet|woodcut*|lumber|lumberjack|woodchopper",
        "chopping wood,wood,tool",
        "an axe chopping wood; someone chopping wood; chopping logs",
    ),
    _c(
        "hammer|hammering|nail|nails|anvil|smith|blacksmith|forge|toolsmith",
        "hammer,tool",
        "a hammer hitting metal; hammering on an anvil; someone hammering",
    ),
    _c("chisel stone", "chisel,stone,tool", "a chisel striking stone; a stonemason chiseling stone"),
    _c(
        "stonemason|quarry|mine|mining|pickaxe|pick|dig|digging|dug|shovel|spade|hoe|geologist",
        "digging,tool",
        "a pickaxe striking rock; someone digging; a shovel digging into earth",
    ),
    _c(
        "grinding|grinder|mill|millstone|sharpen*|grind",
        "grinding,machine",
        "a millstone grinding; something being ground; sharpening a blade on a grindstone",
    ),
    _c(
        "drill|drilling|pickhammer|jackhammer|airhammer|drillgun",
        "drill,tool,machine",
        "a power drill whirring; a jackhammer pounding; a drill boring",
    ),
    _c("weld|welding|blowtorch|torch", "welding,tool", "a blowtorch hissing; welding sparks"),
    _c("scythe|sickle|mow|harvest|harvesting|reap", "scythe", "a scythe cutting grass; harvesting crops"),
    _c("weave|weaving|weaver|loom|spinning", "loom,machine", "a weaving loom clattering"),
    _c("sew|sewing", "sewing machine,machine", "a sewing machine running"),
    _c(
        "tools|tool|toolbox|wrench|spanner|screwdriver|repair|construct|construction|build|building|builder",
        "construction,tool",
        "construction work; tools clanking; building work with tools",
        2,
    ),
    _c(
        "bulldozer|excavator|crane|digger",
        "bulldozer,vehicle,machine",
        "a bulldozer engine rumbling; heavy machinery working",
    ),
    _c(
        "factory|industry|industrial|machinery|machine|machines|generator|motor|pump|pumps|conveyor|"
        "furnace|turbine|compressor|pneumatic|piston|hydraulic",
        "machine",
        "a machine humming; industrial machinery running; a motor whirring; a factory machine",
    ),
    _c("windmill|windmills", "windmill,machine", "a windmill turning; a windmill creaking"),
    _c(
        "fan|ventilation|vent|aircon|hvac|airconditioner",
        "fan,machine",
        "a fan whirring; an air vent humming",
    ),
    _c(
        "electric|electricity|spark|sparks|zap|electro|bzzt|bzap|shock|transformer|power|powerline|substation",
        "electricity",
        "electric sparks zapping; an electrical hum; electricity arcing",
        2,
    ),
    _c("hum|humming|drone|droning|buzz", "hum", "a low hum; an electrical drone; a constant humming", 2),
    _c("printer|printing|print|scanner|fax", "printer,machine", "a printer printing; a printer whirring"),
    _c(
        "computer|console|beep|beeps|bleep|blip|radar|sonar|ping|pulse|data|tech",
        "beep,electronic",
        "an electronic beep; a computer beeping; a short beep",
        2,
    ),
    _c(
        "radio|static|tv|television|transmission|radionoise|interference",
        "radio static,electronic",
        "radio static; a television hissing with static; white noise from a radio",
        2,
    ),
    _c(
        "vinyl|record|turntable scratch|backspin|rewind|hiss",
        "vinyl",
        "a vinyl record scratching; record crackle",
    ),
    _c("chain|chains", "chains,metal", "chains rattling; a metal chain clanking"),
    _c(
        "metal impact|hit|bang|clang|clank|collision|land",
        "metal impact,metal",
        "a metal clang; metal banging; something striking metal; a clanking metal sound",
    ),
    _c("metal break|tear|crush", "metal,impact", "metal crunching; metal tearing apart"),
    _c("metal|steel|iron|tin", "metal", "a metallic clank; metal clanking", 2),
    _c(
        "stone impact|hit|bang|fall|falling|land",
        "stone,impact",
        "a stone hitting stone; rocks clacking together",
    ),
    _c(
        "rock|rocks|stone|stones|boulder|debris|rubble|gravel|collapse|avalanche|cave",
        "rocks,impact",
        "rocks tumbling; stones falling; rubble crashing down",
        2,
    ),
    _c(
        "wood break|breaks|breaking|snap|crack|splinter",
        "wood,breaking",
        "wood breaking; a wooden plank snapping; splintering wood",
    ),
    _c("wood|wooden|plank|planks|crate|bridge|log|logs", "wood", "wood clattering; a wooden thud", 2),
    _c(
        "break|breaks|breaking|broken|crack|cracking|cracky|snap",
        "breaking",
        "something breaking; a crack; something snapping",
        2,
    ),
    _c(
        "impact|hit|thud|thump|bump|land|landing|fall|falling|drop|dropped|collision|collide|crash",
        "impact",
        "a heavy thud; something hitting the ground; a dull impact; an object falling and landing",
        2,
    ),
    _c(
        "whoosh|swing|swipe|swoop|wind",
        "whoosh",
        "a whoosh; something swishing through the air; a fast swoosh",
        2,
    ),
    # --- vehicles
    _c(
        "helicopter|rotor|rotors|apache",
        "helicopter,aircraft,vehicle",
        "a helicopter flying; the whir of helicopter blades; a helicopter hovering; a helicopter overhead",
    ),
    _c(
        "jet|jets|afterburner|fighterjet|turbine",
        "airplane,jet,aircraft,vehicle",
        "a jet plane flying overhead; a jet engine roaring; a jet aircraft taking off",
    ),
    _c(
        "airplane|airport|aircraft|airliner|flight|flying|takeoff|cessna|glider|aeroplane|propeller|"
        "plane|planes|bomber|ufo|airship",
        "airplane,aircraft,vehicle",
        "an airplane flying overhead; a plane taking off; an aircraft engine droning",
    ),
    _c(
        "propeller airplane",
        "airplane,aircraft,vehicle",
        "a propeller plane flying; a small propeller aircraft",
    ),
    _c(
        "train|trains|railway|rail|railroad|tram|subway|metro|cart|carts|locomotive|maglev|monorail|wagon",
        "train,vehicle",
        "a train passing; a train rolling on the tracks; a train chugging along",
    ),
    _c("steam train", "train,vehicle", "a steam locomotive chugging; a steam train whistle"),
    _c("train|locomotive whistle|horn", "train horn,train,vehicle", "a train whistle blowing; a train horn"),
    _c("car horn", "car horn,horn,vehicle", "a car horn honking; a car honking; a vehicle horn beeping"),
    _c("horn|horns|hooter", "horn", "a horn blowing; a horn sounding"),
    _c(
        "ship|boat|ferry|warship|harbor|harbour|seaport|dock|shipyard|submarine|navy|naval",
        "ship,vehicle",
        "a ship horn blowing; a boat engine; a ship at sea",
    ),
    _c(
        "car|cars|auto|automobile|vehicle|vehicles|truck|lorry|bus|buggy|van|traffic|road|highway|street|kart",
        "car,vehicle",
        "a car driving by; traffic passing; a car engine running; vehicles on a road",
    ),
    _c("tank|tanks|tread|tracks|apc", "tank,vehicle", "a tank rumbling; a tank's tracks clanking"),
    _c(
        "motorcycle|motorbike|scooter|moped",
        "motorcycle,vehicle",
        "a motorcycle revving; a motorbike passing",
    ),
    _c("tractor", "tractor,vehicle", "a tractor engine chugging"),
    _c(
        "engine|motor|diesel|exhaust|rev|revup|accel|idle|ignition|starter|cranking|crank|throttle",
        "engine,vehicle",
        "an engine running; an engine revving; an engine idling; a motor starting",
    ),
    _c(
        "skid|tires|tyres|screech|squeal|brake|braking",
        "tires screeching,vehicle",
        "tires screeching; a car skidding; brakes squealing",
    ),
    _c("crash|collision|wreck", "crash,impact", "a crash; a car crash; a loud collision", 2),
    _c("level crossing|crossings", "bell,train", "a railroad crossing bell ringing; a level crossing signal"),
    _c("bicycle|bike", "bicycle", "a bicycle bell ringing"),
    _c(
        "rocket engine|takeoff|launch|launching|liftoff",
        "rocket,vehicle",
        "a rocket engine roaring; a rocket launching; a rocket lifting off",
    ),
    _c(
        "spaceship|spacecraft|hyperspace|hyperdrive|thruster|starship|shuttle",
        "rocket,vehicle",
        "a rocket engine roaring; a spaceship humming; a rocket launching",
        2,
    ),
    # --- explosions, weapons, fireworks
    _c(
        "firework|firecracker|fireworks",
        "fireworks,explosion",
        "fireworks exploding; fireworks popping; firecrackers banging; a fireworks display",
    ),
    _c(
        "large|huge|big|heavy|xlarge|nuclear explosion",
        "explosion",
        "a huge explosion; a massive blast; a big boom",
    ),
    _c("small|tiny|little explosion", "explosion", "a small explosion; a little pop and bang"),
    _c(
        "explosion|explosive|detonation|grenade|mine|mortar|missile|rocket|cannon|artillery|bombard|"
        "shell|nuclear|dynamite|tnt|meteor|bazooka|shockwave|napalm",
        "explosion",
        "an explosion; a loud explosion; a bomb exploding; a blast",
    ),
    _c(
        "gunshot|gun|guns|shot|shots|shoot|shooting|fire|gunfire|rifle|pistol|revolver|shotgun|sniper|"
        "cannon|musket|firearm",
        "gunshot,weapon",
        "a gunshot; a gun firing; gunshots; a gun being fired",
        2,
    ),
    _c(
        "gunshot|shotgun|sniper|rifle|pistol|musket|revolver",
        "gunshot,weapon",
        "a gunshot; a gun firing; a rifle shot; a single gunshot",
    ),
    _c("machine gun", "gunshot,machine gun,weapon", "a machine gun firing; rapid gunfire; automatic gunfire"),
    _c(
        "reload|reloading|cartridge|magazine|casings|clip|cock|cocking",
        "gun reload,weapon",
        "a gun being reloaded; a weapon reloading; the click of a gun being cocked",
    ),
    _c(
        "ricochet|bullet|bullets|tracer",
        "bullet,weapon",
        "a bullet ricocheting; bullets whizzing by; a bullet impact",
        2,
    ),
    _c(
        "laser|phaser|plasma|blaster|beam|ion|zapper|pulse|energy|forcefield|teleport|teleporter|portal|warp|"
        "magic|spell|magical|faeriefire|holy|summon|heal|healing|invisib*|powerup|power",
        "sci-fi,synthetic",
        "a sci-fi laser zap; a futuristic energy sound; a synthesized zap",
        2,
    ),
    _c(
        "sword|swords|blade|blades|sabre|saber|dagger|knife|knives|katana|slice|slash|stab|cudgel|mace|"
        "flail|club|staff|spear|pike|javelin|lance",
        "sword,weapon",
        "a sword clashing; metal blades clanging; a sword swinging; a blade slicing",
    ),
    _c(
        "arrow|arrows|bow|bows|crossbow|archer|archery|sling|dart|darts|javelin|bolt",
        "arrow,weapon",
        "an arrow being shot from a bow; an arrow whizzing through the air; a bowstring twanging",
    ),
    _c(
        "catapult|onager|ballista|ballist|trebuchet|siege",
        "catapult,weapon",
        "a catapult launching; a siege weapon firing; a wooden catapult creaking",
    ),
    _c("shield|armor|armour|armorimpact", "armor,metal", "metal armor clanking; a blow on a shield", 2),
    _c(
        "fight|battle|combat|war|attack|attacking|charge|melee|wardrums",
        "fight",
        "a fight; sounds of battle; a struggle",
        2,
    ),
    _c("war drum|drums|drumming", "drums,music", "war drums beating; tribal drums"),
    # --- music instruments and percussion (hydrogen, sonic pi, gcompris)
    _c("kick", "kick drum,drum,music", "a kick drum hit; a bass drum thump; a kick drum"),
    _c("snare", "snare drum,drum,music", "a snare drum hit; a snare drum crack; a snare drum"),
    _c("drum|cymbal|crash splash", "cymbal,music", "a splash cymbal; a cymbal being struck"),
    _c("hihat|hat", "hi-hat,cymbal,music", "a hi-hat cymbal; a hi-hat being struck; a hi-hat tap"),
    _c(
        "cymbal|crash|splash|china|ride",
        "cymbal,music",
        "a cymbal crash; a cymbal being struck; a crash cymbal",
    ),
    _c("tom|toms|tomtom", "tom drum,drum,music", "a tom drum hit; a tom-tom drum"),
    _c(
        "rimshot|stick|sticks",
        "rimshot,drum,music",
        "a rimshot on a snare drum; drumsticks clicking together",
    ),
    _c("clap", "clapping,hand clap", "a hand clap; a single clap; hands clapping"),
    _c(
        "cowbell|agogo|woodblock|block|claves|conga|bongo|tabla|tambourine|shaker|maracas|percussion|drum|"
        "drums|drumkit|beat|beats|breakbeat|amen",
        "percussion,drum,music",
        "a percussion instrument; a drum being played; a hand drum beat; drums",
    ),
    _c("tabla", "tabla,drum,music", "a tabla drum; an Indian tabla being played"),
    _c("tambourine", "tambourine,music", "a tambourine jingling; a tambourine shaken"),
    _c("guitar|guitars", "guitar,music", "a guitar being played; an acoustic guitar; guitar strings"),
    _c("piano|keys", "piano,music", "a piano playing; piano notes"),
    _c(
        "violin|viola|cello|fiddle|contrabass|doublebass",
        "string instrument,music",
        "a violin playing; a string instrument being bowed; a cello playing",
    ),
    _c("harp", "harp,music", "a harp being plucked; harp strings"),
    _c("flute|piccolo|recorder|whistle", "flute,music", "a flute playing; a whistle blowing"),
    _c(
        "trumpet|trombone|tuba|horn|bugle|fanfare|brass",
        "brass instrument,music",
        "a trumpet playing; a brass fanfare; a horn blaring",
    ),
    _c("clarinet|oboe|bassoon|saxophone|sax", "woodwind,music", "a clarinet playing; a woodwind instrument"),
    _c("xylophone|marimba|glockenspiel|vibraphone|bells", "xylophone,music", "a xylophone being played"),
    _c("choir|singing|sing|vocal", "singing,music", "a choir singing; voices singing"),
    _c(
        "synth|electronic|glitch|synthesizer|chip|chiptune|bass",
        "synthesizer,music",
        "an electronic synth sound; a synthesizer tone; a glitchy electronic sound",
        2,
    ),
    _c(
        "jingle|fanfare|victory|tada|win|won|success|level",
        "jingle,music",
        "a short musical jingle; a victory fanfare",
        2,
    ),
    # --- speech-like voices (kept short and generic)
    _c(
        "acknowledge|select|ready|yes|yessir|order|command|move|attack",
        "speech,voice",
        "a man's voice giving a short reply; a soldier acknowledging an order; a short spoken phrase",
        2,
    ),
    _c(
        "talk|talking|speech|speak|chatter|chat|voice|voices|mumble|murmur",
        "speech,voice",
        "people talking; a voice speaking; chatter",
        2,
    ),
    _c(
        "city|town|urban|street|market|residential|crowd",
        "city ambience",
        "city street ambience; a busy town; urban background noise",
        2,
    ),
    _c(
        "restaurant|tavern|inn|pub|bar|cafe|lobby",
        "crowd,indoor",
        "people chatting in a tavern; restaurant chatter",
        2,
    ),
    _c(
        "school|playground|children|kids", "children,human", "children playing; kids shouting in a playground"
    ),
)

SEGMENT_LABELS: frozenset[str] = frozenset({"footsteps"})


def _vocab() -> frozenset[str]:
    words: set[str] = set()
    for concept in (*CONCEPTS, _FOOTSTEP):
        for group in concept.pattern:
            for alt in group:
                words.add(alt.rstrip("*"))
    for alts, _ in SURFACES:
        words.update(alts)
    for value in JARGON.values():
        words.update(value.split())
    words.update(
        _words(
            "die death dead dying select acknowledge open close closing opening footstep walk hit pain "
            "large small big heavy light soft hard fast slow low high short long distant inside outside "
            "male female"
        )
    )
    return frozenset(w for w in words if len(w) >= 3)


VOCAB: frozenset[str] = _vocab()


@dataclass
class Description:
    """What a clip's names say about it: noun phrases (one list per concept) and labels."""

    phrases: list[list[str]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    key: str = ""  # a stable summary used to cap near-identical clips per source


# "running" next to one of these is flowing water (scratch's WaterRunning), not a runner's footsteps.
_FLOWING = frozenset({"water", "tap", "faucet", "river", "stream", "sink"})


def _footstep_match(tokens: list[str]) -> tuple[list[int], str] | None:
    used = _FOOTSTEP.match(tokens)
    if used is None:
        return None
    if tokens[used[0]] in ("run", "running") and _FLOWING.intersection(tokens):
        return None
    for alts, phrase in SURFACES:
        for i, tok in enumerate(tokens):
            if i not in used and tok in alts:
                return [*used, i], phrase
    return used, ""


def describe_tokens(file_tokens: list[str], context_tokens: list[str]) -> Description | None:
    """Match normalised tokens against the concept table.

    ``file_tokens`` come from the file name, ``context_tokens`` from its folders.  A match must use at
    least one file token, unless the file name has no usable token, in which case folders alone are
    used.  Concrete (tier-1) concepts win over generic (tier-2) ones; at most two concepts are kept.
    """
    for toks, n_file in ((file_tokens + context_tokens, len(file_tokens)), (context_tokens, 0)):
        if not toks:
            continue
        found = _match_all(toks, n_file if n_file else len(toks))
        if found is not None:
            return found
        # the file name has words but none matched: folders alone are too weak to describe it,
        # unless the file words are all unknown to the vocabulary (IDs, codes)
        if file_tokens and any(t in VOCAB for t in file_tokens):
            return None
    return None


def _match_all(tokens: list[str], n_file: int) -> Description | None:
    candidates: list[tuple[int, int, int, list[int], Concept | None, str]] = []
    fs = _footstep_match(tokens)
    if fs is not None:
        used, surface = fs
        candidates.append((1, -len(used), 0, used, None, surface))
    for order, concept in enumerate(CONCEPTS, start=1):
        used_c = concept.match(tokens)
        if used_c is not None:
            candidates.append((concept.tier, -len(used_c), order, used_c, concept, ""))
    candidates = [c for c in candidates if any(i < n_file for i in c[3])]
    if not candidates:
        return None
    candidates.sort(key=lambda c: (c[0], c[1], c[2]))
    best_tier = candidates[0][0]
    taken: set[int] = set()
    desc = Description()
    keys: list[str] = []
    for tier, _neg, _order, used, concept, surface in candidates:
        if tier != best_tier or len(desc.phrases) >= (2 if tier == 1 else 1):
            break
        if taken.intersection(used):
            continue
        if concept is None:
            on = f" on {surface}" if surface else ""
            phrases = [p.format(on=on) for p in _FOOTSTEP.phrases]
            labels = list(_FOOTSTEP.labels)
        else:
            phrases = list(concept.phrases)
            labels = list(concept.labels)
        if any(phrases == p for p in desc.phrases):
            continue
        if desc.phrases and set(labels).intersection(desc.labels):
            continue  # a second concept must add something new, not restate the first
        taken.update(used)
        desc.phrases.append(phrases)
        for lb in labels:
            if lb not in desc.labels:
                desc.labels.append(lb)
        keys.append(phrases[0])
    desc.key = " + ".join(keys)
    return desc


def path_tokens(rel_path: str, context_levels: int = 3) -> tuple[list[str], list[str]]:
    """File-name tokens and folder tokens (last ``context_levels`` folders) of a relative path."""
    parts = [p for p in re.split(r"[/\\!]", rel_path) if p]
    if not parts:
        return [], []
    file_toks = normalise_tokens(split_name(parts[-1]))
    ctx: list[str] = []
    for folder in parts[-1 - context_levels : -1]:
        if _ARCHIVE.search(folder):
            continue  # an archive's own name (public.zip, opensfx.cat) says nothing about the sound
        ctx.extend(normalise_tokens(split_name(folder)))
    return file_toks, ctx


def describe_path(rel_path: str, hint: str = "") -> Description | None:
    """Describe a clip from its relative path and an optional human-written hint (title, label)."""
    file_toks, ctx = path_tokens(rel_path)
    if hint:
        hint_toks = normalise_tokens(split_name(hint))
        desc = describe_tokens(hint_toks, file_toks + ctx)
        if desc is not None:
            return desc
    return describe_tokens(file_toks, ctx)


# --------------------------------------------------------------------------------------------
# Caption templates

_ARTICLE = re.compile(r"^(a|an|the|some)\s+", re.IGNORECASE)

NP_TEMPLATES: tuple[str, ...] = (
    "{np}",
    "the sound of {np}",
    "a recording of {np}",
    "{np} can be heard",
    "audio of {np}",
    "{bare} sound effect",
    "you can hear {np}",
    "{bare} noise",
    "sound of {bare}",
    "an audio clip of {np}",
    "{np} is heard",
    "this is the sound of {np}",
    "a clip with {np}",
)
SHORT_TEMPLATES: tuple[str, ...] = ("a short sound of {np}", "a brief {bare} sound", "{np}, short")
LONG_TEMPLATES: tuple[str, ...] = (
    "{np} for several seconds",
    "continuous {bare}",
    "a long recording of {np}",
)
LABEL_TEMPLATES: tuple[str, ...] = ("{label}", "{label} sound", "a sound of {label}", "{label} audio")


def bare(np: str) -> str:
    """Drop a leading article: "a dog barking" -> "dog barking"."""
    return _ARTICLE.sub("", np)


def stable_int(text: str) -> int:
    """A platform-independent integer hash of ``text``."""
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big")


def _pick(options: tuple[str, ...] | list[str], key: str) -> str:
    return options[stable_int(key) % len(options)]


def _join(nps: list[str], key: str) -> str:
    if len(nps) == 1:
        return nps[0]
    return _pick((f"{nps[0]} and {nps[1]}", f"{nps[0]} with {nps[1]}", f"{nps[0]} mixed with {nps[1]}"), key)


def write_captions(
    desc: Description, clip_key: str, duration: float, extra: list[str] | None = None, n: int = 5
) -> list[str]:
    """Write ``n`` distinct captions for a described clip, deterministically from ``clip_key``.

    ``extra`` holds human-written captions (titles, dataset captions) which are kept first.
    """
    out: list[str] = []
    for text in extra or []:
        text = text.strip()
        if text and text.lower() not in {o.lower() for o in out}:
            out.append(text)
    if not desc.phrases:
        return out[:n]
    templates = list(NP_TEMPLATES)
    if duration < 1.0:
        templates += SHORT_TEMPLATES
    elif duration > 6.0:
        templates += LONG_TEMPLATES
    # one caption that is just the label, as zero-shot prompts are usually label-like
    label = desc.labels[0] if desc.labels else ""
    tries = 0
    while len(out) < n and tries < 60:
        k = f"{clip_key}|{tries}"
        nps = [_pick(group, f"{k}|np{i}") for i, group in enumerate(desc.phrases)]
        np = _join(nps, k)
        if tries == 1 and label:
            cap = _pick(LABEL_TEMPLATES, k).format(label=label)
        else:
            cap = _pick(tuple(templates), k).format(np=np, bare=bare(np))
        cap = cap[0].lower() + cap[1:] if not cap[:2].isupper() else cap
        if cap.lower() not in {o.lower() for o in out}:
            out.append(cap)
        tries += 1
    return out


# --------------------------------------------------------------------------------------------
# ESC-50 coverage (planning only: counts captions, never uses ESC-50 audio)

ESC50_KEYWORDS: dict[str, str] = {
    "dog": r"\bdogs?\b|\bbark",
    "rooster": r"rooster|cock-a-doodle",
    "pig": r"\bpigs?\b|oink",
    "cow": r"\bcows?\b|\bmoo|cattle",
    "frog": r"\bfrogs?\b|croak",
    "cat": r"\bcats?\b|meow|kitten",
    "hen": r"\bhens?\b|chicken|cluck",
    "insects": r"insect|\bbees?\b|buzzing|mosquito|\bflies\b|wasp|hornet",
    "sheep": r"sheep|bleat|\blambs?\b",
    "crow": r"\bcrows?\b|\bcaw|raven",
    "rain": r"\brain",
    "sea waves": r"\bwaves?\b|\bsurf\b|ocean|\bsea\b",
    "crackling fire": r"crackl|\bfire\b|flames|campfire",
    "crickets": r"cricket|cicada",
    "chirping birds": r"chirp|birdsong|birds? sing",
    "water drops": r"drip|drops? of water|water drops?",
    "wind": r"\bwind\b|\bgusts?\b",
    "pouring water": r"\bpour",
    "toilet flush": r"toilet|flush",
    "thunderstorm": r"thunder",
    "crying baby": r"\bbaby|\binfant",
    "sneezing": r"sneez",
    "clapping": r"\bclap|applau",
    "breathing": r"breath",
    "coughing": r"cough",
    "footsteps": r"footstep|\bwalking\b",
    "laughing": r"laugh|cackl|giggl",
    "brushing teeth": r"brushing|toothbrush",
    "snoring": r"snor(e|es|ing)\b",
    "drinking sipping": r"drink|\bsip|slurp|gulp",
    "door knock": r"knock",
    "mouse click": r"\bmouse\b|\bclick",
    "keyboard typing": r"typing|keyboard|typewriter",
    "door wood creaks": r"creak",
    "can opening": r"\bcan (being opened|popping)|opening a can|soda can",
    "washing machine": r"washing machine",
    "vacuum cleaner": r"vacuum",
    "clock alarm": r"alarm",
    "clock tick": r"\btick",
    "glass breaking": r"glass (break|shatter)|breaking glass|shatter",
    "helicopter": r"helicopter",
    "chainsaw": r"chainsaw",
    "siren": r"siren",
    "car horn": r"car horn|honk",
    "engine": r"\bengine",
    "train": r"\btrains?\b|locomotive",
    "church bells": r"\bbells?\b",
    "airplane": r"airplane|\bplane\b|aircraft|\bjet\b",
    "fireworks": r"firework|firecracker",
    "hand saw": r"\bsaw\b|sawing",
}


def esc50_coverage(captions_per_clip: list[list[str]]) -> dict[str, int]:
    """For each ESC-50 class, the number of clips with a caption matching its keywords."""
    pats = {k: re.compile(v, re.IGNORECASE) for k, v in ESC50_KEYWORDS.items()}
    counts = dict.fromkeys(ESC50_KEYWORDS, 0)
    for caps in captions_per_clip:
        text = " | ".join(caps)
        for k, pat in pats.items():
            if pat.search(text):
                counts[k] += 1
    return counts
