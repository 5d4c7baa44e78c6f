"""`replica demo --scale N` looks like a CRM of that size: leads grow with the
messages, a few threads are very long, and scale 1 stays the documented master."""

from __future__ import annotations

import re
from collections import Counter

from crm_replica.demo import synthetic


def test_scale_one_is_the_documented_master():
    rows = synthetic.master_rows(scale=1).tables
    assert {t: len(rows[t]) for t in synthetic.BASE_COUNTS} == synthetic.BASE_COUNTS
    assert [lead[1] for lead in rows["leads"]] == list(synthetic.NAMES[:11])
    assert not any(re.search("[A-Za-z]{4}", r[2]) for r in rows["conversations"]), (
        "scale 1 keeps the seed's Hebrew texts"
    )


def test_leads_grow_with_the_messages_and_stay_one_per_phone():
    rows = synthetic.master_rows(scale=20).tables
    assert len(rows["leads"]) == 20 * 11
    assert len(rows["clients"]) == 2 and len(rows["projects"]) == 2
    phones = [lead[3] for lead in rows["leads"]]
    assert len(set(phones)) == len(phones)
    assert {lead[10] for lead in rows["leads"]} <= set(synthetic.BANT_OF_LEADS)


def test_a_few_threads_are_very_long():
    rows = synthetic.master_rows(scale=20).tables
    per_lead = Counter(c[1] for c in rows["conversations"])
    counts = sorted(per_lead.values(), reverse=True)
    mean = len(rows["conversations"]) / len(rows["leads"])
    assert counts[0] > 10 * mean  # the longest thread
    assert counts[len(counts) // 2] < mean  # most are shorter than the mean
    statuses = Counter(h[1] for h in rows["lead_status_history"])
    assert statuses.most_common(1)[0][1] > 5 * len(rows["lead_status_history"]) / 220


def test_texts_mix_english_and_rare_words_above_scale_one():
    texts = [c[2] for c in synthetic.master_rows(scale=20).tables["conversations"]]
    assert any(re.search("[\u0590-\u05ff]", t) for t in texts)
    assert any(re.search("[A-Za-z]{4}", t) for t in texts)
    refs = Counter(m.group(0) for t in texts for m in re.finditer(r"ref \d{4}", t))
    assert refs and refs.most_common(1)[0][1] < len(texts) / 100  # rare words
