"""Words that report an urgent symptom: a safety net under the red_flag classifier.

The classifier learns red_flag from examples, but a visitor in trouble may use words it
never saw ("blood gushing", "out cold", "pus"). These patterns list the usual ways of
reporting the issue's urgent symptoms (chest pain or breathlessness, fainting, fever with
an inflamed needle site, heavy bleeding, new numbness or weakness). They only ever add a
red flag; they never take one away. A miss costs far more than a false alarm, so the
patterns lean wide, but each needs a report ("my chest hurts since..."), not just a
scary word: "can dry needling puncture a lung?" or "does it help numbness from carpal
tunnel?" are questions for the FAQ.
"""

from __future__ import annotations

import re
from typing import Optional

_CANT = r"(?:can'?t|cnt|cannot|can not|could ?n'?t|unable to|struggling to|struggle to|hard to|difficult to|barely)"
_AFTER = (
    r"(?:since|after|following|started|starting|now|suddenly|sudden|all of a sudden|today|tonight|"
    r"this (?:morning|afternoon|evening)|an hour|hours|won'?t go|isn'?t going|not going away|getting worse|"
    r"worse|rn|right now|keeps?|still)"
)
_SITE = r"(?:needle|needled|needles|needling|site|spot|mark|hole|puncture|area|where (?:you|they|she|he|the|i had))"
_CHEST = r"(?:ch[ea]{1,2}st|sternum|breast ?bone|under (?:my )?(?:right |left )?collar ?bone)"
_BREATH = r"(?:breathe?|bre?the?|brath|breathing|breathin)"
_FEVER = (
    r"(?:fever|feverish|temperature|temp of|high temp|a temp|chills|shivering|shivers|shivery|the shakes|sweats|"
    r"hot and cold|hot then cold|cold then hot|rigors|burning up|flu-?ish|flu like|fluey)"
)
_INFLAMED = (
    r"(?:red|hot|swollen|swelling|swelled|pus|oozing|weeping|leaking|spreading|streaks?|lump|infected|throbbing|"
    r"puffy|inflamed|warm|purple|tender|angry|stinks?|smells?)"
)

PATTERNS = {
    "emergency": [
        r"\b(?:ambulance|paramedics?|a&e|emergency room|emergency department)\b",
        r"\b(?:call|ring|dial) (?:999|911|000|112)\b",
    ],
    "breathing": [
        _CANT + r"\s+(?:\w+\s+){0,3}(?:" + _BREATH + r"|catch (?:my|his|her|a) breath|breath\b|air\b)",
        r"\bshort(?:ness)? of " + _BREATH + r"\b",
        r"\bout of breath\b[^.?!]{0,40}\b" + _AFTER + r"\b",
        r"\b(?:deep|full|a|every) breath\b[^.?!]{0,30}\b(?:pain|stab|stabbing|sharp|hurts?|agony)\b",
        r"\bpanting\b",
        r"\bbreathless\b",
        r"\bgasping\b",
        r"\b(?:little|short|tiny|small) gasps\b",
        r"\b(?:hurts?|painful|pain) (?:to|when i) (?:talk|speak)\b",
        r"\bstruggling for (?:air|breath)\b",
        r"\b(?:hurts?|painful|pain|sore) (?:to|when i|when i try to|every time i) (?:breathe|take a breath|breath)\b",
        r"\bbreathing (?:is |feels )?(?:hurts?|painful|difficult|hard|shallow|laboured|labored)\b",
        r"\bbreath(?:ing|s)? (?:is|are|feels?) (?:like )?(?:a |such a |an )?(?:struggle|effort|fight)\b",
        r"\blips? (?:are |look |looks |is |turning |gone )?(?:a bit )?blue\b",
        r"\bthroat\b[^.?!]{0,25}\b(?:closing|swelling up|tightening)\b",
    ],
    "chest": [
        r"\b" + _CHEST + r"\b[^.?!]{0,30}\b(?:pains?|hurts?|hurting|tight|tightness|heavy|heaviness|pressure|crushing|"
        r"aching|aches|ache|stabbing|sharp|burning|squeezing|killing)\b",
        r"\b(?:pains?|tightness|pressure|heaviness|crushing|stabbing|squeezing)\b[^.?!]{0,30}\b" + _CHEST + r"\b",
        r"\b(?:tight|heavy|painful|aching|crushing) " + _CHEST + r"\b",
        # A sore chest is gym talk, unless it came on after treatment: then it may be a collapsed lung.
        r"^(?=.*\b" + _CHEST + r"\b)(?=.*\bsore\b)(?=.*\b(?:after|since|following) (?:the |my |his |her )?"
        r"(?:needl\w*|treatment|session|appt|appointment|physio)\b)",
    ],
    "fainting": [
        r"\b(?:fainted|fainting|pas+e?d out|passing out|blacked out|blacking out|lost consciousness|"
        r"out cold|keeled over|came round|came to on|knocked out|unconscious|unresponsive)\b",
        r"\bcollaps(?:ed|ing)\b(?! lungs?)",
        r"\b(?:about|going|gonna|like i'?m going|like im going) to (?:pass out|faint|black out|collapse)\b",
        r"\b(?:feel|feeling|feels) (?:very |really |so )?faint\b",
        r"\b(?:everything|it all|vision|eyes?) (?:went|goes|going|keeps going) (?:black|dark|grey|gray)\b",
        r"\b(?:hit|woke up on|came round on|found (?:him|her|me) on) the floor\b",
    ],
    "bleeding": [
        r"ble?e?d\w*\b[^.?!]{0,30}\b(?:won'?t|wont|will not|doesn'?t|does not|can'?t|cant|cannot|not|isn'?t|"
        r"hasn'?t|has not|haven'?t) (?:stop|stopping|stopped|slowing|slowed)\b",
        r"\b(?:bleeding|blood)\b[^.?!]{0,12}\bto stop\b",
        _CANT + r" (?:stop|get it to stop)\b[^.?!]{0,30}\b(?:bleed|blood)",
        r"\b(?:heavy|heavily|lots of|loads of|a lot of|so much|pouring|gushing|spurting|streaming|pumping|soaked|dripping)\b"
        r"[^.?!]{0,20}\bblood\b",
        r"\bblood\b[^.?!]{0,20}\b(?:everywhere|pouring|gushing|spurting|streaming|pumping|won'?t stop|wont stop)\b",
        r"\b(?:pouring|gushing|spurting|streaming) blood\b",
        r"\bbleeding (?:heavily|a lot|badly|profusely|everywhere|through)\b",
        r"\bstill bleeding\b",
        r"\b(?:heavy|heavily|lots of|a lot of|loads of|so much|really bad|badly)\b[^.?!]{0,15}\bble?e?d",
        r"\bble?e?d(?:ing)? (?:heavily|a lot|badly|profusely)\b",
        r"\b(?:won'?t|wont|will not|doesn'?t|does not|not|never) stop(?:ping)? bleeding\b",
        r"\bkeeps? (?:on )?bleeding\b",
        _CANT + r" (?:get )?(?:the |it to )?(?:bleeding )?(?:to )?stop\b[^.?!]{0,30}\bble?e?d",
        r"\bblood\b[^.?!]{0,20}\b(?:running|not stopping|won'?t stop|keeps coming)\b",
        r"\bcoughing (?:up )?blood\b",
    ],
    "infection": [
        r"^(?=.*\b" + _FEVER + r"\b)(?=.*\b" + _INFLAMED + r"\b)",
        r"^(?=.*\b" + _FEVER + r"\b)(?=.*\b" + _SITE + r"\b)(?=.*\b(?:after|since|following)\b)",
        r"^(?=.*\b(?:swollen|swelling|swelled|lump)\b)(?=.*\b(?:hot|bigger|growing|spreading|burning)\b)"
        r"(?=.*\b" + _SITE + r"\b)",
        r"\b(?:abscess|cellulitis)\b",
        r"\b(?:looks?|is|it'?s|seems?|gone|has become|became|getting|got|going) (?:really |very |a bit |all )?infected\b",
        r"(?<!\ban )\binfected (?:needle|spot|site|area|mark|hole)\b",
        r"^(?=.*\b(?:red|redness)\b)(?=.*\b(?:hot|warm|swollen)\b)(?=.*\b" + _SITE + r"\b)"
        r"(?=.*\b(?:since|after|following)\b)",
        r"\b(?:pus|oozing|weeping|leaking|discharge|yellow stuff|green stuff)\b[^.?!]{0,40}\b" + _SITE,
        _SITE + r"\b[^.?!]{0,40}\b(?:pus|oozing|weeping|leaking|yellow stuff|green stuff|abscess)\b",
        r"\bred (?:streaks?|lines?)\b",
        r"\bredness\b[^.?!]{0,25}\b(?:spreading|spread|growing|bigger)\b",
        # The usual self-check for a spreading infection: a pen line round the redness, and it has gone past it.
        r"\b(?:gone|spread|spreading|went|grown|creeping) (?:way |well |right )?(?:past|beyond|over|outside) "
        r"(?:it|the line|the mark|the pen|my line)\b(?=.*\b(?:red|redness|line|mark)\b)|"
        r"\b(?:red|redness)\b.*\b(?:gone|spread|went|grown) (?:way |well )?(?:past|beyond|outside)\b",
        r"\b(?:spreading|growing)\b[^.?!]{0,15}\bredness\b",
    ],
    "nerves": [
        r"\b(?:numb|numbness|lost (?:all )?(?:the )?feeling|can'?t feel|cannot feel|no feeling|dead feeling)\b"
        r"[^.?!]{0,40}\b" + _AFTER + r"\b",
        _AFTER + r"\b[^.?!]{0,40}\b(?:numb|numbness|lost (?:all )?(?:the )?feeling|can'?t feel|cannot feel)\b",
        r"\b(?:gone|went|going|gone all|turned|turning)\s+(?:completely |totally |really |all |kind of |fully )?numb\b",
        r"\b(?:getting|got|gone|going|feels?|feeling) (?:much |a lot |really )?weaker\b",
        r"\b(?:can'?t|cannot|can not|unable to) lift (?:the )?(?:front|toes|ball) of (?:my |his |her )?foot\b",
        r"\bfoot (?:keeps )?(?:slapping|dropping|drop)\b",
        r"\blost (?:all )?(?:the )?(?:strength|power|use) (?:in|of)\b",
        r"\bnumb (?:all )?(?:down|on) (?:my |one |the |his |her )?(?:\w+ )?side\b",
        r"\b(?:half|one side of|side of) (?:my |his |her )?(?:face|body)\b[^.?!]{0,30}\b(?:numb|droop|drooping|"
        r"lopsided|weak|dead|tingl)",
        r"\b(?:face|smile|mouth)\b[^.?!]{0,25}\b(?:droop|drooping|droopy|lopsided|dropped|uneven)\b",
        r"\bslurr(?:ed|ing)\b",
        _CANT + r"\s+(?:\w+\s+){0,2}(?:move|lift|raise|grip|hold|straighten|bend|feel) (?:my|his|her|the)\s+"
        r"(?:\w+\s+)?(?:arm|leg|hand|foot|feet|fingers|toes|wrist|ankle|knee|elbow)\b[^.?!]{0,40}\b" + _AFTER + r"\b",
        _AFTER + r"\b[^.?!]{0,40}" + _CANT + r"\s+(?:\w+\s+){0,2}(?:move|lift|raise|grip|hold|straighten|bend|feel)"
        r" (?:my|his|her|the)\s+(?:\w+\s+)?(?:arm|leg|hand|foot|feet|fingers|toes|wrist|ankle|knee|elbow)\b",
        r"\b(?:arm|leg|hand|foot) (?:is |has )?(?:dragging|gone weak|gone dead|gone floppy|giving way|gave way|"
        r"won'?t work|not working|keeps giving way)\b",
        r"\b(?:suddenly|sudden) (?:very )?weak\b",
        r"\b(?:arm|leg|hand|foot|side|fingers)\b[^.?!]{0,25}\b(?:limp|floppy|dead)\b",
        r"\b(?:arm|leg|hand|foot|side|fingers)\b[^.?!]{0,25}\bweak\b[^.?!]{0,40}\b" + _AFTER + r"\b",
        _AFTER + r"\b[^.?!]{0,40}\b(?:arm|leg|hand|foot|side|fingers)\b[^.?!]{0,25}\bweak\b",
        r"\bweakness\b[^.?!]{0,40}\b" + _AFTER + r"\b",
    ],
    "severe": [
        r"\bworst (?:headache|pain) (?:of|in) my life\b",
        r"\bheadache\b[^.?!]{0,40}\b(?:out of nowhere|came on suddenly|like a thunderclap)\b",
        r"\b(?:10|ten) ?(?:/|out of) ?(?:10|ten)\b[^.?!]{0,60}\b(?:since|after|getting worse|worse)\b|"
        r"\b(?:since|after)\b[^.?!]{0,60}\b(?:10|ten) ?(?:/|out of) ?(?:10|ten)\b",
        r"\b(?:can'?t|cannot|can not|unable to) (?:put|bear) (?:any )?weight on\b",
        r"\b(?:unbearable|excruciating|agonising|agonizing)\b[^.?!]{0,50}\b(?:since|after|worse|getting worse)\b",
        r"\bheart\b[^.?!]{0,30}\b(?:racing|pounding|hammering|beating (?:really |so |very )?(?:fast|hard|weird|irregular)"
        r"|skipping|fluttering|all over the place)\b(?=.*\b(?:dizzy|faint|light-?headed|chest|breath|started|"
        r"hasn'?t stopped|won'?t stop|not stopping|since)\b)",
        r"^(?=.*\b(?:swollen|swelling)\b)(?=.*\b(?:foot|leg|calf|hand|arm)\b[^.?!]{0,30}\b(?:cold|white|blue|pale)\b)",
    ],
}

_COMPILED = {name: [re.compile(p) for p in patterns] for name, patterns in PATTERNS.items()}

# "Can it help chest tightness from the gym?" asks about treating a long-standing problem;
# without a sign that something just happened, it is left to the classifier.
_TREATMENT_QUESTION = re.compile(
    r"\b(?:can|could|will|would|does|do|is|are|any chance|wondering if|hoping)\b[^.!]{0,50}\b(?:(?<!please )(?<!pls )(?<!plz )(?<!need )helps?\b(?!\s*(?:me|us|him|her|them|pls|please|asap|now|urgently|quick))|"
    r"treat|treats|fix|good for|work for|works for|worth (?:it|trying)|(?:still )?an option|rule out|"
    r"needle (?:there|that|it|my \w+|the \w+|\w+\?)|"
    r"(?:a problem|an issue|ok|okay|safe|a risk) (?:for|with)|postpone|still come)\b"
)
# A problem the visitor has had for a long time is a reason to ask about treatment, not an emergency.
_LONG_STANDING = re.compile(
    r"\b(?:for (?:years|months|ages|a while|a few weeks)|last (?:year|month)|years? ago|months? ago|"
    r"chronic|old injury|ongoing|since (?:i was|childhood|birth|shingles))\b"
)
_JUST_HAPPENED = re.compile(
    r"\b(?:since|following|started|suddenly|sudden|all of a sudden|right now|rn|today|tonight|yesterday|"
    r"this (?:morning|afternoon|evening|arvo)|hours? ago|an hour|after (?:my|the|his|her|your|a|this|that|"
    r"needl\w*|treat\w*|physio|session|appt|appointment))\b"
)


# A worry about what might happen ("will I bleed a lot?", "what if I faint?") is a question for the
# FAQ, unless the message also reports something happening now or since a session.
_HYPOTHETICAL = re.compile(
    r"\b(?:what if|what happens if|what would happen if|will i|would i|might i|am i going to|is it (?:normal|common|"
    r"possible) to|in case|what should i do if|is there a risk|any risk|risk of|do people ever|does anyone ever|"
    r"if i (?:start|get|feel|go)|will (?:it|needling|the needl\w*|this|that|dry needling) (?:make|leave|cause|give))\b"
)
_REPORT = re.compile(
    r"\b(?:since|started|suddenly|sudden|right now|rn|today|tonight|yesterday|this (?:morning|afternoon|evening)|"
    r"hours? ago|just now|at the moment|currently|still)\b|"
    r"\b(?:had|got|after) (?:my|the|a|his|her) (?:\w+ )?(?:needl\w*|treatment|session|appointment|appt)\b"
)
# A symptom the visitor says has already passed ("it faded within the hour", "then it settled"), asked
# about as a question, is a question about side effects, unless something is still going on.
_PASSED = re.compile(
    r"\b(?:faded|passed|went away|wore off|settled|cleared up|subsided|disappeared|gone now|fine now|back to normal|"
    r"totally fine|all fine|within (?:a|an|the) (?:minute|few minutes|hour))\b"
)
_ONGOING = re.compile(
    r"\b(?:still|getting worse|worse now|won'?t stop|not stopping|hasn'?t stopped|came back|again now)\b"
)

# "not swollen or hot", "no fever": a sign the visitor says is absent is not reported.
_ABSENT = re.compile(
    r"\b(?:not|no|without|nor)\s+(?:(?:very|really|at all|even|any)\s+)?(?:swollen|swelling|hot|red|warm|pus|fever|"
    r"temperature|bleeding|numb|numbness|painful|tight|tingling)(?:\s+(?:or|and|nor)\s+(?:swollen|hot|red|warm|painful|"
    r"numb|bleeding))*\b"
)


def plain_text(text: str) -> str:
    """Lower case, straight apostrophes, single spaces."""
    return " ".join(text.lower().replace("\u2019", "'").replace("\u2018", "'").split())


def urgent_symptom(text: str) -> Optional[str]:
    """The kind of urgent symptom ``text`` reports (``"chest"``, ``"bleeding"``...), or None."""
    plain = _ABSENT.sub(" ", plain_text(text))
    if _TREATMENT_QUESTION.search(plain) and (not _JUST_HAPPENED.search(plain) or _LONG_STANDING.search(plain)):
        return None
    if _HYPOTHETICAL.search(plain) and not _REPORT.search(plain):
        return None
    if "?" in plain and _PASSED.search(plain) and not _ONGOING.search(plain):
        return None
    for name, patterns in _COMPILED.items():
        if any(pattern.search(plain) for pattern in patterns):
            return name
    return None


def settled_question(text: str) -> bool:
    """Whether ``text`` asks about treating a long-standing problem ("tight chest for years, my
    cardiologist cleared me: could needling help?") without reporting anything happening now: the
    one kind of message the classifier's own red flag is taken back for."""
    plain = plain_text(text)
    return bool(_TREATMENT_QUESTION.search(plain) and _LONG_STANDING.search(plain) and not _REPORT.search(plain))
