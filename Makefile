# PY and DJANGO pick the interpreter (python$(PY), found through pyenv's
# .python-version) and the Django release line; each pair gets its own venv.
PY ?= 3.12
DJANGO ?= 6.1
# Database for django-subset: sqlite, postgresql, mariadb, or oracle (only in
# the Jenkins stage, jenkins/oracle-stage.sh, which starts a server).
DB ?= sqlite
# Extra arguments for runtests.py, e.g. RUNTESTS_ARGS=--no-overlay to time
# upstream Django with the same harness.
RUNTESTS_ARGS ?=
# Extra arguments for windows-smoke's pytest, e.g. SMOKE_ARGS='-k database'.
SMOKE_ARGS ?=

VENV := .venv-$(PY)-$(DJANGO)
PYTHON := $(VENV)/bin/python
# --noinput: a test database left by an interrupted run is replaced rather
# than asked about, which would fail where there is no stdin (CI).
RUNTESTS := $(PYTHON) runtests.py --start-method spawn --parallel 2 --noinput
# Django's test_sqlite is the suite's default; the others are tests/settings/.
SETTINGS := $(if $(filter sqlite,$(DB)),,--settings $(DB))
# The parts of Django's suite that exercise the parallel runner, test database
# creation and cloning, and what workers share (caches, autoreload, checks),
# and dbshell, whose tests look at a worker's Ctrl-C handler.
# Not test_runner_apps: its apps fail on purpose, for test_runner to run.
SUBSET := test_runner backends servers test_utils \
	transactions transaction_hooks check_framework contenttypes_tests \
	utils_tests.test_autoreload multiple_database m2m_through cache dbshell

# Debian packages the venv builds against: mysqlclient needs MariaDB's client
# library and pkg-config, pylibmc (from Django's test requirements)
# libmemcached; the browser the live-server tests drive; memcached, which
# tests/test_caches.py starts itself. Installed here when missing, so that a
# fresh machine needs nothing done by hand.
SYSTEM_PACKAGES := libmariadb-dev pkg-config libmemcached-dev chromium chromium-driver memcached

.PHONY: venv system-packages windows-packages lint test windows-smoke django-suite django-subset clean

venv: $(VENV)/.installed

system-packages:
	@dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1 || { \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES); }

$(VENV)/.installed: pyproject.toml Makefile | system-packages
	python$(PY) -m venv $(VENV)
	$(PYTHON) -m pip install --disable-pip-version-check -e '.[test,test-external,postgres,mysql,oracle]' 'Django~=$(DJANGO).0'
	touch $@

# ruff's rules and line length are in pyproject.toml; ruff itself is in the
# test extras.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Wine for tests/windows/smoke.py: 64-bit only (the Windows CPython is
# x86-64), without the 32-bit half that Debian's wine64 recommends.
windows-packages:
	@dpkg -s wine64 >/dev/null 2>&1 || { \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wine64; }

# The official Windows CPython 3.13 and its win_amd64 wheels, git-ignored.
.windows/.installed: tests/windows/install_python.py pyproject.toml | venv
	$(PYTHON) tests/windows/install_python.py .windows
	touch $@

# The sample project's parallel spawn runs on that Windows CPython under Wine
# (docs/windows.md). Its Wine prefix is made and removed by the run.
windows-smoke: venv windows-packages .windows/.installed
	@basetemp=$$(mktemp -d /tmp/overlay-windows-XXXXXX); \
	$(PYTHON) -m pytest tests/windows/smoke.py -p no:cacheprovider --durations=0 \
		--basetemp="$$basetemp" $(SMOKE_ARGS); status=$$?; \
	rm -rf "$$basetemp"; exit $$status

# pytest's own temporary root is shared by every pytest session of the user,
# and a session removes the older ones' directories: a run of its own, short
# (spawned runs put sockets in it), removed afterwards. hypothesis keeps its
# examples beside it, rather than in .hypothesis/ of the checkout. Two
# pytest-xdist workers: most of a test's time is spent waiting for the sample
# runs it starts and for the servers, and each test names its databases, Redis
# keys and files after its own process, so two run side by side (12.5 minutes
# alone, 7.3 side by side, here).
test: venv
	@basetemp=$$(mktemp -d /tmp/overlay-tests-XXXXXX); \
	HYPOTHESIS_STORAGE_DIRECTORY="$$basetemp-hypothesis" \
	$(PYTHON) -m pytest tests -n 2 --basetemp="$$basetemp"; status=$$?; \
	rm -rf "$$basetemp" "$$basetemp-hypothesis"; exit $$status

# Exits 0 when the run's failures are exactly those docs/django-suite.md lists
# (this machine's), 1 naming the differences otherwise.
django-suite: venv
	$(RUNTESTS) --expected-failures docs/django-suite.md $(RUNTESTS_ARGS)

django-subset: venv
	$(RUNTESTS) $(SETTINGS) $(RUNTESTS_ARGS) $(SUBSET)

clean:
	rm -rf .venv-*/ *.egg-info .pytest_cache .ruff_cache .windows
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
