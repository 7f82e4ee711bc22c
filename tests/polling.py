"""What the Python tests share: polling with a deadline, and plain assertions."""
import time


class Fatal(AssertionError):
    """A failure no retry can mend (an agent exited): raised through `eventually` at once."""


def eventually(what, check, timeout=60.0, interval=0.25):
    """The first truthy answer of check(), polled until the deadline; fails with `what` after it."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            answer = check()
            if answer:
                return answer
        except Fatal:
            raise
        except Exception as e:  # a node still starting, a page still loading
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}" + (f" (last error: {last})" if last else ""))


def expect(condition, message):
    if not condition:
        raise AssertionError(message)
