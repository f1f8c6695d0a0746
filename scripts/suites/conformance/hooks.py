"""schemathesis hooks for scripts/suites/conformance.sh.

The upload's `file` part is declared `encoding.file.contentType: application/pdf`; the server
checks the content, so schema-valid uploads must be PDFs: `%PDF-` (after at most a little
whitespace) followed by anything.
"""
import schemathesis
from hypothesis import strategies as st

pdf = st.builds(
    lambda lead, rest: lead + b"%PDF-" + rest,
    st.sampled_from([b"", b"\n", b" \r\n\t"]),
    st.binary(min_size=0, max_size=2048),
)
schemathesis.openapi.media_type("application/pdf", pdf)
