from outagewatch.notify.html import to_html


def test_facts_lists_and_paragraphs_and_escaping() -> None:
    text = (
        "Dear customer,\n\nwe <detected> an outage & more.\n\n"
        "* IMAP is now affected\n* Severity changed\n\n"
        "Incident:     OW-1\nWindow:       10:00 UTC\n       until  11:00 UTC\n"
    )
    page = to_html(text)
    assert "<p>we &lt;detected&gt; an outage &amp; more.</p>" in page
    assert "<ul><li>IMAP is now affected</li><li>Severity changed</li></ul>" in page
    assert ">Incident</th><td>OW-1</td>" in page
    assert ">Window</th><td>10:00 UTC until 11:00 UTC</td>" in page
    assert "<script" not in to_html("<script>alert(1)</script>")
