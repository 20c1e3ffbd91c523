# mod_docportal: the front door. `make run` starts a working instance; `make test` runs the
# whole suite. Both install what a fresh Debian 12 lacks (build/deps.sh) first.
SHELL      := /bin/bash
ROOT       := $(abspath .)
OUT        := build/out
APXS       ?= /usr/bin/apxs
HTTPD      ?= /usr/sbin/apache2
PKGS       := apr-1 apr-util-1 jansson libjwt openssl libpq libcurl

# Evaluated when used (after `deps` ran), so a fresh machine gets its headers first.
INCLUDES    = -I. -I$(OUT) -I$(shell $(APXS) -q INCLUDEDIR) $(shell pkg-config --cflags $(PKGS))
DEFS        = $(shell $(APXS) -q EXTRA_CPPFLAGS)
LIBS        = $(shell pkg-config --libs $(PKGS)) -lm
CFLAGS     ?= -O2 -g
WARN       := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wstrict-prototypes
ALL_CFLAGS  = $(CFLAGS) $(WARN) -std=gnu11 -fPIC -pthread -fstack-protector-strong $(DEFS) $(INCLUDES)

CORE_SRC   := $(wildcard modules/core/*.c)
GLUE_SRC   := $(wildcard modules/*.c) mod_docportal.c
CORE_OBJ   := $(patsubst %.c,$(OUT)/%.o,$(CORE_SRC))
GLUE_OBJ   := $(patsubst %.c,$(OUT)/%.o,$(GLUE_SRC)) $(OUT)/dp_sql.o $(OUT)/dp_openapi_doc.o
UNIT_SRC   := $(wildcard t/unit/*.c)
MODULE     := $(OUT)/mod_docportal.so

.PHONY: all build deps check format unit test run start stop install migrate rekey clean distclean bench FORCE

all: build

# What compiling and running the module need; make run and make test add their own.
deps:
	@bash build/deps.sh --build --runtime

build: deps
	@$(MAKE) --no-print-directory $(MODULE)

# The SQL files, and a record of their list: a file added or removed (whatever its date)
# regenerates the statements too.
SQL_FILES  := $(sort $(wildcard sql/statements*.sql sql/[0-9][0-9][0-9]_*.sql))
$(OUT)/sql-files.list: FORCE
	@mkdir -p $(OUT)
	@echo '$(SQL_FILES)' | cmp -s - $@ || echo '$(SQL_FILES)' >$@

$(OUT)/dp_sql.h $(OUT)/dp_sql.c: $(SQL_FILES) $(OUT)/sql-files.list build/gen-statements.sh
	@bash build/gen-statements.sh sql $(OUT)

$(OUT)/%.o: %.c $(wildcard modules/*.h modules/core/*.h) $(OUT)/dp_sql.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(OUT)/dp_sql.o: $(OUT)/dp_sql.c modules/dp_db.h
	$(CC) $(ALL_CFLAGS) -Imodules -c $< -o $@

# The OpenAPI document, served by GET /api/openapi.json, compiled into the module.
$(OUT)/dp_openapi_doc.c: docs/openapi.json build/gen-openapi.sh
	@bash build/gen-openapi.sh docs/openapi.json $@

$(OUT)/dp_openapi_doc.o: $(OUT)/dp_openapi_doc.c modules/dp_openapi.h
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(MODULE): $(CORE_OBJ) $(GLUE_OBJ)
	$(CC) -shared -pthread -o $@ $^ $(LIBS)

# modules/core is pure C: no httpd header may creep in; every directive is documented.
check:
	@bash build/check-core.sh
	@bash build/check-directives.sh

# The C sources in the house style (.clang-format, clang-format 14 as in Debian 12).
format:
	@command -v clang-format >/dev/null || { echo "format: apt-get install clang-format" >&2; exit 1; }
	clang-format -i $$(git ls-files '*.c' '*.h')

$(OUT)/unit-tests: $(CORE_OBJ) $(UNIT_SRC) $(wildcard t/unit/*.h)
	$(CC) $(ALL_CFLAGS) -Imodules/core -o $@ $(UNIT_SRC) $(CORE_OBJ) $(LIBS)

unit: build
	@bash build/deps.sh --test
	@$(MAKE) --no-print-directory check $(OUT)/unit-tests
	@$(OUT)/unit-tests t/unit/cases

# The whole suite: C unit tests, then Apache::Test against a throwaway PostgreSQL cluster
# and httpd on free ports.
test: unit
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=8
	@$(MAKE) --no-print-directory $(OUT)/dp-rekey $(OUT)/dp-test-seal-v1
	@$(MAKE) --no-print-directory $(OUT)/dp-audit-verify
	@bash build/test.sh

run: build
	@bash build/deps.sh --dev
	@bash build/instance.sh run

start: build
	@bash build/deps.sh --dev
	@bash build/instance.sh start

stop:
	@bash build/instance.sh stop

# For a hosting admin: the module, its configuration and its migrations, the apxs way.
install: build
	@bash build/install.sh $(MODULE)

# The portal: the web front end in portal/ (React + TypeScript, built by Vite) that Apache serves
# at / next to /api. `make portal` runs npm ci when package-lock.json changed, then the build
# into build/out/portal; make run, start, test and install use it.
PORTAL_OUT := $(OUT)/portal
PORTAL_SRC  = $(shell find portal/src portal/e2e -type f) $(wildcard portal/*.json portal/*.ts portal/index.html docs/openapi.json)
.PHONY: portal
portal:
	@bash build/deps.sh --portal
	@$(MAKE) --no-print-directory $(PORTAL_OUT)/index.html

$(PORTAL_OUT)/index.html: $(PORTAL_SRC) build/portal.sh
	@bash build/portal.sh build $(PORTAL_OUT)

run start test install: portal

# make screenshots: PNGs of the portal's main screens (desktop 1280x800, phone 375x740) in
# docs/screenshots/, taken in Debian's chromium against the test server with a small demo
# practice seeded through the API; a section still to come is left out until it exists.
.PHONY: screenshots
screenshots: build portal
	@bash build/deps.sh --test
	@$(MAKE) --no-print-directory $(OUT)/dp-rekey $(OUT)/dp-audit-verify
	@DP_SCREENSHOTS=1 DP_TEST_PASSES=plain bash build/test.sh t/api/790_portal_screenshots.t

# Apply the migrations to an admin's own database: make migrate DATABASE_URL=postgresql://...
migrate:
	@test -n "$(DATABASE_URL)" || { echo "usage: make migrate DATABASE_URL=postgresql://owner@host/db"; exit 2; }
	@DATABASE_URL='$(DATABASE_URL)' bash build/migrate.sh

# dp-rekey: re-encrypts message rows under the current DocPortalMessageKey, in batches.
REKEY_OBJ := $(addprefix $(OUT)/modules/core/,dp_aead.o dp_keyring.o dp_uuid.o dp_crypto.o dp_error.o)
$(OUT)/dp-rekey: build/rekey.c $(REKEY_OBJ)
	$(CC) $(ALL_CFLAGS) -Imodules/core -o $@ build/rekey.c $(REKEY_OBJ) $(LIBS)

# dp-test-seal-v1: writes format version 1 ciphertexts for the API suite (t/api/425).
$(OUT)/dp-test-seal-v1: t/tools/seal_v1.c $(REKEY_OBJ)
	$(CC) $(ALL_CFLAGS) -Imodules/core -o $@ t/tools/seal_v1.c $(REKEY_OBJ) $(LIBS)

# After adding a new current key: make rekey [DATABASE_URL=postgresql://owner@host/db
# CONF=/etc/apache2/mods-available/docportal.conf] [REKEY_ARGS='--dry-run --batch 200'].
# Without them it works on the `make run` instance (its database and its httpd.conf).
rekey: build
	@$(MAKE) --no-print-directory $(OUT)/dp-rekey
	@bash build/rekey.sh $(OUT)/dp-rekey '$(DATABASE_URL)' '$(CONF)' $(REKEY_ARGS)

# Audit chain. dp-audit-verify: recomputes the tamper-evident chain over
# audit_events and names the first broken link (exit 1), or prints the counts (exit 0).
AUDIT_VERIFY_OBJ := $(OUT)/modules/core/dp_auditchain.o $(OUT)/modules/core/dp_crypto.o
$(OUT)/dp-audit-verify: build/audit-verify.c build/dp_cli.h $(AUDIT_VERIFY_OBJ)
	$(CC) $(ALL_CFLAGS) -Imodules/core -o $@ build/audit-verify.c $(AUDIT_VERIFY_OBJ) $(LIBS)

# make audit-verify: the `make run` instance (its database, var/secrets/audit_key and its
# error log); for an installed module: make audit-verify DATABASE_URL=postgresql://... \
#   AUDIT_KEY=/etc/apache2/docportal/audit.key AUDIT_LOG=/var/log/apache2/error.log
.PHONY: audit-verify
audit-verify: build
	@$(MAKE) --no-print-directory $(OUT)/dp-audit-verify
	@bash build/audit-verify.sh $(OUT)/dp-audit-verify '$(DATABASE_URL)' '$(AUDIT_KEY)' '$(AUDIT_LOG)'

# fuzz: a libFuzzer harness per parser of untrusted input in modules/core (t/fuzz/fuzz_*.c),
# clang with ASan and UBSan over the core sources; each runs FUZZ_SECONDS on a copy of its
# seed corpus (t/fuzz/corpus/<name>, never rewritten) and any crash, leak or UB fails.
# `make test` runs the short form: 8 s each, about two minutes for the 14 targets.
FUZZ_SECONDS ?= 60
FUZZ_CC      := clang
FUZZ_SAN     := address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS   = -g -O1 $(WARN) -std=gnu11 -pthread $(DEFS) $(INCLUDES) -Imodules/core
FUZZ_OUT     := $(OUT)/fuzz
FUZZ_NAMES   := $(patsubst t/fuzz/fuzz_%.c,%,$(wildcard t/fuzz/fuzz_*.c))
FUZZ_BINS    := $(addprefix $(FUZZ_OUT)/fuzz_,$(FUZZ_NAMES))
FUZZ_CORE    := $(patsubst %.c,$(FUZZ_OUT)/%.o,$(CORE_SRC))

$(FUZZ_OUT)/modules/core/%.o: modules/core/%.c $(wildcard modules/core/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) -c $< -o $@

# An archive: each harness links only the core files it calls (fuzz_google_id brings its
# own dp_http_do).
$(FUZZ_OUT)/libdpcore.a: $(FUZZ_CORE)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_OUT)/fuzz_%: t/fuzz/fuzz_%.c t/fuzz/fuzz.h $(FUZZ_OUT)/libdpcore.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,$(FUZZ_SAN) -o $@ $< $(FUZZ_OUT)/libdpcore.a $(LIBS) -ldl

.PHONY: fuzz
fuzz:
	@bash build/deps.sh --build --fuzz
	@$(MAKE) --no-print-directory $(FUZZ_BINS)
	@bash build/fuzz.sh $(FUZZ_OUT) $(FUZZ_SECONDS) $(FUZZ_NAMES)

clean:
	rm -rf $(OUT) t/logs

distclean: clean
	-@bash build/instance.sh stop 2>/dev/null
	rm -rf var

# bench: `make bench` measures the API against its own ceilings (static file, pgbench,
# bcrypt) in one run on this machine and writes var/bench/*.json. Not part of `make test`/CI.
$(OUT)/bench/bcrypt_ceiling: build/bench/bcrypt_ceiling.c $(OUT)/modules/core/dp_password.o $(OUT)/modules/core/dp_crypto.o
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(OUT)/modules/core/dp_password.o $(OUT)/modules/core/dp_crypto.o $(LIBS)

bench: build
	@$(MAKE) --no-print-directory $(OUT)/bench/bcrypt_ceiling
	@bash build/bench.sh

# cluster: two httpd nodes behind HAProxy on a PostgreSQL primary and its streaming standby, on
# this machine under var/cluster (docs/deploy.md); CLUSTER_SYNC=1 for synchronous replication.
# test-cluster: node loss, sessions and lockouts across nodes, and a database failover, under
# load through HAProxy (t/cluster/); it starts and stops its own cluster.
.PHONY: cluster cluster-stop test-cluster
cluster: build
	@bash build/deps.sh --cluster
	@bash build/cluster.sh start

cluster-stop:
	@bash build/cluster.sh stop

test-cluster: build
	@bash build/deps.sh --cluster
	@$(MAKE) --no-print-directory $(OUT)/dp-audit-verify
	@bash t/cluster/run.sh

# sqlmap: an SQL injection scan of every route and parameter (docs/openapi.json) with sqlmap,
# against its own instance with its limits raised; fails when a point is injectable. About 25
# minutes: not part of `make test`/CI. leakcheck: the benchmarked endpoints and a booking under
# valgrind's memcheck (httpd -X), a short and a longer run, on a kept `make bench` instance or
# its own; fails on any definitely lost block. See docs/security.md.
.PHONY: sqlmap leakcheck
sqlmap: build
	@bash build/deps.sh --dev
	@bash build/sqlmap.sh

leakcheck: build
	@$(MAKE) --no-print-directory $(OUT)/bench/bcrypt_ceiling
	@bash build/bench/leakcheck.sh

# test-asan: the module, the unit tests and the CLI tools the suite runs, built by clang with
# AddressSanitizer and UBSan into build/out/asan (never mixed with the normal build), then the
# unit tests and the API suite's plain pass against httpd with the ASan runtime preloaded
# (build/asan.sh: options, report files, what fails it). ASAN_TESTS='t/api/...' runs only
# those API test files, ASAN_TESTS=ci CI's subset (below); unset, the whole suite.
# clang, not gcc: its one runtime carries UBSan too, so UBSan's reports follow ASan's log_path
# (gcc's libubsan writes to stderr whatever UBSAN_OPTIONS says, once ASan is loaded).
# -include stddef.h: APR's APR_OFFSETOF (its rings: brigades, buckets) is offsetof only when
# stddef.h came first, else a member access through a null pointer, which UBSan reports.
# clang's warning about httpd's command tables ending in the {NULL} sentinel is off.
ASAN_OUT   := $(OUT)/asan
ASAN_SAN   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_WNO   := -Wno-missing-field-initializers
ASAN_RT     = $(dir $(shell clang -print-file-name=libclang_rt.asan-x86_64.so))
ASAN_TESTS ?=
# ASAN_TESTS=ci: every API test but the portal's browser tests (t/api/7*_portal_*.t), which
# reach through Chromium the handlers the other tests call; what CI runs after `make test`
# (the whole suite under ASan took 31 minutes on a loaded 2-core machine)
ASAN_CI_TESTS = $(filter-out $(wildcard t/api/7*_portal_*.t),$(sort $(wildcard t/api/*.t)))
.PHONY: test-asan
test-asan: build portal
	@bash build/deps.sh --test --fuzz
	@$(MAKE) --no-print-directory CC=clang OUT=$(ASAN_OUT) \
	    CFLAGS='-O1 -g $(ASAN_SAN) -include stddef.h' WARN='$(WARN) $(ASAN_WNO)' \
	    LIBS='$(LIBS) $(ASAN_SAN) -shared-libasan -Wl,-rpath,$(ASAN_RT)' \
	    $(addprefix $(ASAN_OUT)/,mod_docportal.so unit-tests dp-rekey dp-audit-verify dp-test-seal-v1)
	@bash build/asan.sh $(ASAN_OUT) $(if $(filter ci,$(ASAN_TESTS)),$(ASAN_CI_TESTS),$(ASAN_TESTS))
