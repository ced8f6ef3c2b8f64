"""
Stand-ins for what a test's outcome carries that cannot be pickled: an
exception of a class local to a function, one holding a lock, a chain of a
thousand causes, a subtest whose parameters hold a socket. Each keeps what
the report needs (the original's qualified type name, its message, its
traceback as far as it pickles) and is rebuilt in the parent as an exception
named like the original (tblib carries the tracebacks).
"""

import pickle
import traceback
from unittest.case import _SubTest, _subtest_msg_sentinel

import tblib.pickling_support

# Tracebacks, and exceptions defined so far; later ones as they are recorded.
tblib.pickling_support.install()


def survives_pickling(value):
    """Whether value pickles here and unpickles in the parent."""
    try:
        pickle.loads(pickle.dumps(value))
    except BaseException:
        # Whatever a __reduce__ raises, SystemExit included, or RecursionError.
        return False
    return True


def picklable_exc_info(exc_info):
    """
    The exc_info as it is, if pickle and tblib can take it; else a chain of
    stand-ins (stand_in_chain).
    """
    if exc_info is None:
        return None
    exc_type, exc_value, tb = exc_info
    if exc_value is None:
        if survives_pickling(exc_info):
            return exc_info
        exc_value = exc_type()
    if plain_graph(exc_value) and survives_pickling(exc_info):
        return exc_info
    stand_in = stand_in_chain(exc_value)
    return StandInExcInfo((type(stand_in), stand_in, stand_in.__traceback__))


# How many links of an exception chain (causes and contexts, as a traceback
# shows them) a stand-in keeps at each end: a report of `raise E(i) from
# previous` in a loop shows the outermost and the innermost, and says how
# many were elided between.
CHAIN_LINKS_KEPT = 10
# Exceptions (links, and members of groups) an exception may carry to go as
# it is: pickle and tblib walk them by recursion, and unittest formats them.
PLAIN_GRAPH_LIMIT = 2 * CHAIN_LINKS_KEPT
# Members of an exception group a stand-in names, as many as a traceback shows.
GROUP_MEMBERS_NAMED = 15


def linked_exceptions(exception):
    """The exceptions that exception carries: cause, context, and a group's members."""
    linked = [link for link in (exception.__cause__, exception.__context__) if link is not None]
    if isinstance(exception, BaseExceptionGroup):
        linked.extend(exception.exceptions)
    return linked


def plain_graph(exception):
    """
    Whether the exceptions reachable from exception are few and without a
    cycle, so that pickle and tblib may take them and the report stays
    short. Counted as a report shows them: a group that holds one exception
    eight times shows it eight times, and groups of such groups multiply
    (a walk that visited each exception once let such a report grow past
    any bound). Walked without recursion; each one's class is registered
    with tblib, which pickles an exception with its cause and context
    (pickle's own way has no place for them).
    """
    on_path, visits = set(), 0
    to_visit = [(exception, False)]
    while to_visit:
        current, leaving = to_visit.pop()
        key = id(current)
        if leaving:
            on_path.discard(key)
            continue
        if key in on_path:
            return False
        visits += 1
        if visits > PLAIN_GRAPH_LIMIT:
            return False
        on_path.add(key)
        tblib.pickling_support.install(type(current))
        to_visit.append((current, True))
        to_visit.extend((link, False) for link in linked_exceptions(current))
    return True


def displayed_chain(exception):
    """
    The exceptions a traceback of exception shows, outermost first, and
    whether the chain loops back on itself (where it is cut).
    """
    chain, seen = [], set()
    while exception is not None:
        if id(exception) in seen:
            return chain, True
        seen.add(id(exception))
        chain.append(exception)
        if exception.__cause__ is not None:
            exception = exception.__cause__
        elif not exception.__suppress_context__:
            exception = exception.__context__
        else:
            exception = None
    return chain, False


def stand_in_chain(exception):
    """
    Stand-ins for the chain a traceback of exception shows, built without
    recursion: at most CHAIN_LINKS_KEPT links at each end, with one saying
    how many were elided between; a link that pickles with the rest of its
    chain (a small one) goes as it is.
    """
    chain, loops = displayed_chain(exception)
    kept = chain
    if len(chain) > 2 * CHAIN_LINKS_KEPT:
        elided = len(chain) - 2 * CHAIN_LINKS_KEPT
        kept = [*chain[:CHAIN_LINKS_KEPT], ElidedLinks(elided), *chain[-CHAIN_LINKS_KEPT:]]
    links = []
    for position, link in enumerate(kept):
        if isinstance(link, ElidedLinks):
            links.append(link)
            continue
        if position and plain_graph(link) and survives_pickling(link):
            links.append(link)
            break
        links.append(StandInError.from_exception(link))
    else:
        if loops:
            links[-1].message += "\n[The chain loops: the next exception in it is one shown below.]"
    # Each link keeps how the original was tied to the next one.
    for position in range(len(links) - 1):
        original, stand_in, following = kept[position], links[position], links[position + 1]
        if isinstance(original, ElidedLinks) or original.__cause__ is not None:
            stand_in.__cause__ = following
        else:
            stand_in.__context__ = following
            stand_in.__suppress_context__ = False
    return links[0]


@tblib.pickling_support.install
class ElidedLinks(Exception):
    """Stands for the links of a long chain that its report leaves out."""

    def __init__(self, count):
        super().__init__(
            f"{count} more exceptions of this chain were elided: the report keeps the "
            f"{CHAIN_LINKS_KEPT} outermost and the {CHAIN_LINKS_KEPT} innermost."
        )


class StandInExcInfo(tuple):
    """
    An exc_info tuple whose type is rebuilt with its value: unittest names the
    error by exc_info[0], which must be the stand-in's own class.
    """

    def __reduce__(self):
        return (_rebuild_exc_info, (self[1], self[2]))


def _rebuild_exc_info(stand_in, tb):
    return (type(stand_in), stand_in, tb)


def describe(value):
    """str(value), or what it is if its __str__ raises."""
    try:
        return str(value)
    except BaseException:
        return f"<unprintable {type(value).__qualname__} object>"


def _rebuild_stand_in(module, qualname, failure, message, cause, context, suppress, tb):
    stand_in_type = stand_in_type_for(module, qualname, failure)
    stand_in = stand_in_type(message, module, qualname, failure)
    # Setting __cause__, even to None, suppresses the context.
    stand_in.__cause__ = cause
    stand_in.__context__ = context
    stand_in.__suppress_context__ = suppress
    stand_in.__traceback__ = tb
    return stand_in


_stand_in_types = {}


def stand_in_type_for(module, qualname, failure):
    """
    An exception class named like the original, made in the parent, so that
    the report's last line reads "module.Qualified.Name: message" as it would
    have for the original. It needs no import path: it is never pickled.
    """
    key = (module, qualname, failure)
    if key not in _stand_in_types:
        # An assertion stays one, for results that tell failures from errors
        # by the exception's type (subtests).
        bases = (StandInError, AssertionError) if failure else (StandInError,)
        _stand_in_types[key] = type(
            qualname.rpartition(".")[2],
            bases,
            {"__module__": module, "__qualname__": qualname},
        )
    return _stand_in_types[key]


class StandInError(Exception):
    """What reaches the parent in place of an exception that cannot be pickled."""

    def __init__(self, message, module="builtins", qualname="Exception", failure=False):
        super().__init__(message)
        self.message = message
        self.original_module = module
        self.original_qualname = qualname
        self.failure = failure

    def __str__(self):
        return self.message

    @classmethod
    def from_exception(cls, exception):
        """A stand-in for exception alone; stand_in_chain links them."""
        original = type(exception)
        message = describe(exception)
        if isinstance(exception, BaseExceptionGroup):
            message += group_members(exception)
        stand_in = cls(
            message,
            original.__module__,
            original.__qualname__,
            isinstance(exception, AssertionError),
        )
        tb = exception.__traceback__
        if tb is not None and survives_pickling(tb):
            stand_in.__traceback__ = tb
        elif tb is not None:
            # tblib pickles tracebacks, but by recursion; the formatted text
            # of one too deep goes in the message, so that the report keeps it.
            stand_in.message += "\n\n" + "".join(traceback.format_tb(tb))
        return stand_in

    def __reduce__(self):
        return (
            _rebuild_stand_in,
            (
                self.original_module,
                self.original_qualname,
                self.failure,
                self.message,
                self.__cause__,
                self.__context__,
                self.__suppress_context__,
                self.__traceback__,
            ),
        )


def group_members(group):
    """The members of an exception group, one a line, for a stand-in's message."""
    members = group.exceptions
    lines = [
        f"\n  {number}: {type(member).__qualname__}: {describe(member)}"
        for number, member in enumerate(members[:GROUP_MEMBERS_NAMED], 1)
    ]
    if len(members) > GROUP_MEMBERS_NAMED:
        lines.append(f"\n  and {len(members) - GROUP_MEMBERS_NAMED} more")
    return "".join(lines)


class DetachedSubTest:
    """
    A subtest whose test case or parameters cannot be pickled: its message
    and parameters travel as their reprs, and the parent attaches it to its
    own copy of the test, so the report shows the subtest as it would have.
    """

    def __init__(self, message, params):
        self.message = message
        self.params = params

    @classmethod
    def from_subtest(cls, subtest):
        message = subtest._message
        if message is _subtest_msg_sentinel:
            # unittest's marker for "no message" is compared by identity.
            message = None
        elif not survives_pickling(message):
            message = describe(message)
        params = {
            name: value if survives_pickling(value) else Repr(value)
            for name, value in subtest.params.items()
        }
        return cls(message, params)

    def attach(self, test):
        message = _subtest_msg_sentinel if self.message is None else self.message
        return _SubTest(test, message, self.params)


class Repr:
    """Stands for a value by its repr, which is all a subtest's report shows."""

    def __init__(self, value):
        try:
            self.text = repr(value)
        except Exception:
            self.text = f"<unrepresentable {type(value).__qualname__} object>"

    def __repr__(self):
        return self.text
