# massaged: one non-recursive GNU Makefile.
#
#   make            build the daemon, simulator, client and plugins
#   make check      build with ASan+UBSan and run every test
#   make demo       build, then run the simulator and the daemon on the demo table
#   make demo-spa   the same for two tables sharing one throwaway PostgreSQL
#   make install    install under $(DESTDIR)$(PREFIX)
#   make uninstall  remove what make install put there
#   make deb        build the Debian packages (dpkg-buildpackage -b) in ..
#   make bench      benchmarks (optimised build), not part of check
#   make deps       install missing Debian packages (as root), else print the line

# The version: the top entry of debian/changelog, the package's, so the
# package, massaged -V, massagectl -V, /metrics and the status all say the
# same (tests/integration/test_version.py); sed where dpkg-dev is missing.
VERSION		:= $(or $(shell dpkg-parsechangelog -l debian/changelog -S Version \
		   2>/dev/null),$(shell sed -n '1{s/^[^ ]* (//;s/).*//;p;}' \
		   debian/changelog 2>/dev/null),unknown)
BUILD		?= build
PREFIX		?= /usr/local
SYSCONFDIR	?= /etc
LOCALSTATEDIR	?= /var
BINDIR		?= $(PREFIX)/bin
SBINDIR		?= $(PREFIX)/sbin
LIBDIR		?= $(PREFIX)/lib
LIBEXECDIR	?= $(PREFIX)/libexec
WORKERPATH	?= $(LIBEXECDIR)/massaged/massaged-worker
PLUGINDIR	?= $(LIBDIR)/massaged/routines
INCLUDEDIR	?= $(PREFIX)/include
DATADIR		?= $(PREFIX)/share
MANDIR		?= $(DATADIR)/man
PKGCONFIGDIR	?= $(LIBDIR)/pkgconfig
UNITDIR		?= $(LIBDIR)/systemd/system
SYSUSERSDIR	?= $(LIBDIR)/sysusers.d
TMPFILESDIR	?= $(LIBDIR)/tmpfiles.d
CONFDIR		?= $(SYSCONFDIR)/massaged
LOGROTATEDIR	?= $(SYSCONFDIR)/logrotate.d
PANELDIR	?= $(DATADIR)/massaged/panel
# Prometheus alert rules and the Grafana dashboard (contrib/).
FLEETDIR	?= $(DATADIR)/massaged
# The examples of CONFDIR that install put there once, one a line: an
# example an admin deleted is not brought back.
EXAMPLES_LIST	?= $(CONFDIR)/.installed-examples
PYTHON		?= /usr/bin/python3

CC		?= cc
PKG_CONFIG	?= pkg-config
# massagectl links only CLIENT_PC: no libmodbus, no libsystemd; OpenSSL
# for https:// to a reverse proxy in front of a daemon (client/http-tls.c).
CLIENT_PC	:= libevent libevent_openssl openssl inih jansson
LIBS_PC		:= libevent libevent_pthreads libmodbus inih jansson libpq
HAVE_SYSTEMD	?= $(shell $(PKG_CONFIG) --exists libsystemd 2>/dev/null && echo 1)
ifeq ($(HAVE_SYSTEMD),1)
LIBS_PC		+= libsystemd
SYSTEMD_CFLAGS	:= -DHAVE_SYSTEMD=1
endif

OPT		?= -O2
CFLAGS		?= $(OPT) -g
WARN		:= -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
		   -Wformat=2 -Wpointer-arith -Wcast-qual -Wno-unused-parameter
ifeq ($(SAN),1)
SANFLAGS	:= -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		   -fno-omit-frame-pointer
WERROR		:= -Werror
endif
PC_CFLAGS	:= $(shell $(PKG_CONFIG) --cflags $(LIBS_PC) 2>/dev/null)
PC_LIBS		:= $(shell $(PKG_CONFIG) --libs $(LIBS_PC) 2>/dev/null)
CLIENT_LIBS	:= $(shell $(PKG_CONFIG) --libs $(CLIENT_PC) 2>/dev/null)
# The daemon's layers (see Sources below): what each may include. Objects
# get theirs as the target-specific LAYER_INC, so a core file that
# includes an engine header does not build.
INC_CORE	:= -Idaemon/core
INC_ENGINE	:= $(INC_CORE) -Idaemon/engine
INC_API		:= $(INC_ENGINE) -Idaemon/api
LAYER_INC	:=
# common/ on the quote path only: its strings.h must not shadow <strings.h>.
CPPFLAGS_ALL	:= -Iinclude -iquote common -D_GNU_SOURCE -DMASSAGED_VERSION='"$(VERSION)"' \
		   -DPLUGINDIR='"$(PLUGINDIR)"' -DCONFDIR='"$(CONFDIR)"' \
		   -DPANELDIR='"$(PANELDIR)"' -DWORKERPATH='"$(WORKERPATH)"' \
		   $(SYSTEMD_CFLAGS) $(CPPFLAGS)
ALL_CFLAGS	:= -std=c11 $(WARN) $(WERROR) $(CFLAGS) $(SANFLAGS) -pthread \
		   $(CPPFLAGS_ALL) $(PC_CFLAGS)
# No -rdynamic: the daemon exports nothing (plugins run in massaged-worker).
ALL_LDFLAGS	:= $(LDFLAGS) $(SANFLAGS) -pthread
LDLIBS_ALL	:= $(PC_LIBS) -lm

# Sources: every file in these folders takes part, so a new subsystem or
# test needs no Makefile edit. The daemon is three layers, each a folder
# and a library; a layer includes and links only the layers below it:
#
#   common/         linked by every program: log, parse, clock, strings
#   daemon/core/    pure: parsing and validating the configuration, the
#                   limit pipeline, the session state machine; no I/O, no
#                   threads, processes or sockets (test_layers checks its
#                   symbols); linked by massagectl (preview) too
#   daemon/engine/  the I/O: the tick, the bus and its controller backends,
#                   the routines' workers, records, status, notify, metrics
#   daemon/api/     HTTP: routes, tokens, replies, the event stream
COMMON_SRCS	:= $(wildcard common/*.c)
COMMON_OBJS	:= $(COMMON_SRCS:%.c=$(BUILD)/%.o)
CORE_SRCS	:= $(wildcard daemon/core/*.c)
CORE_OBJS	:= $(CORE_SRCS:%.c=$(BUILD)/%.o)
ENGINE_SRCS	:= $(wildcard daemon/engine/*.c)
ENGINE_OBJS	:= $(ENGINE_SRCS:%.c=$(BUILD)/%.o)
API_SRCS	:= $(wildcard daemon/api/*.c)
API_OBJS	:= $(API_SRCS:%.c=$(BUILD)/%.o)
SIM_SRCS	:= $(wildcard sim/*.c)
# The simulator shares the wire contract (include/massaged/regmap.h) and
# links common/ only (log.c names libevent for its log hook), not the
# daemon's libraries.
SIM_LIBS	:= $(shell $(PKG_CONFIG) --libs libmodbus libevent 2>/dev/null) -lm
CLIENT_SRCS	:= $(wildcard client/*.c)
# The routine worker: one plugin per process, sandboxed (libseccomp); it
# shares only the message layout (include/massaged/worker.h) with the daemon.
WORKER_SRCS	:= $(wildcard worker/*.c)
WORKER_LIBS	:= $(shell $(PKG_CONFIG) --libs libseccomp 2>/dev/null) -ldl
PLUGIN_SRCS	:= $(wildcard plugins/*.c)
PLUGINS		:= $(PLUGIN_SRCS:plugins/%.c=$(BUILD)/plugins/%.so)
UNIT_SRCS	:= $(wildcard tests/unit/test_*.c)
UNIT_BINS	:= $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TESTPLUG_SRCS	:= $(wildcard tests/plugins/*.c)
TESTPLUGS	:= $(TESTPLUG_SRCS:tests/plugins/%.c=$(BUILD)/tests/plugins/%.so)
LIBCOMMON	:= $(BUILD)/libmassaged-common.a
LIBCORE		:= $(BUILD)/libmassaged-core.a
LIBENGINE	:= $(BUILD)/libmassaged-engine.a
LIBAPI		:= $(BUILD)/libmassaged-api.a
# What the daemon and the unit tests link, in link order.
DAEMON_LIBS	:= $(LIBAPI) $(LIBENGINE) $(LIBCORE) $(LIBCOMMON)

# Objects depend on the flags they were built with, so switching SAN or OPT
# in one build directory rebuilds instead of mixing.
FLAGS_NOW	:= $(ALL_CFLAGS) $(ALL_LDFLAGS)
FLAGS_FILE	:= $(BUILD)/.flags
ifneq ($(FLAGS_NOW),$(file <$(FLAGS_FILE)))
$(shell mkdir -p $(BUILD))
$(file >$(FLAGS_FILE),$(FLAGS_NOW))
endif

PROGS		:= $(BUILD)/massaged $(BUILD)/massaged-sim $(BUILD)/massagectl \
		   $(BUILD)/massaged-worker


.PHONY: all build tests check check-unit check-integration check-browser demo demo-spa deps \
	deps-check install uninstall deb bench bench-store soak soak-devices fuzz check-valgrind clean
.DEFAULT_GOAL := all

# The build runs in a second make so that pkg-config is asked only after the
# dependencies are installed.
all: deps-check
	@$(MAKE) --no-print-directory build

build: $(PROGS) $(PLUGINS)

tests: deps-check
	@$(MAKE) --no-print-directory build $(UNIT_BINS) $(TESTPLUGS)

$(BUILD)/%.o: %.c $(FLAGS_FILE)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LAYER_INC) -MMD -MP -c -o $@ $<

# A layer sees the layers below it; the programs and tests what they use
# (the client and the benchmarks run routine workers: core and engine).
$(CORE_OBJS): LAYER_INC := $(INC_CORE)
$(ENGINE_OBJS): LAYER_INC := $(INC_ENGINE)
$(API_OBJS) $(BUILD)/daemon/massaged.o: LAYER_INC := $(INC_API)
$(UNIT_SRCS:%.c=$(BUILD)/%.o): LAYER_INC := $(INC_API)
$(CLIENT_SRCS:%.c=$(BUILD)/%.o): LAYER_INC := $(INC_ENGINE)

# The store's migrations are compiled in (.incbin, docs/store.md).
$(BUILD)/daemon/engine/store-sql.o: $(wildcard sql/*.sql)

$(LIBCOMMON): $(COMMON_OBJS)
$(LIBCORE): $(CORE_OBJS)
$(LIBENGINE): $(ENGINE_OBJS)
$(LIBAPI): $(API_OBJS)
$(LIBCOMMON) $(LIBCORE) $(LIBENGINE) $(LIBAPI):
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/massaged: $(BUILD)/daemon/massaged.o $(DAEMON_LIBS)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(DAEMON_LIBS) $(LDLIBS_ALL)

$(BUILD)/massaged-sim: $(SIM_SRCS:%.c=$(BUILD)/%.o) $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SIM_LIBS)

# The client: common, the core and, of the engine, what the preview runs
# (routine instances in workers): a linker takes only the objects it needs
# from an archive, so none of the bus, records or HTTP comes along.
$(BUILD)/massagectl: $(CLIENT_SRCS:%.c=$(BUILD)/%.o) $(LIBENGINE) $(LIBCORE) $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(CLIENT_LIBS) -lm

$(BUILD)/massaged-worker: $(WORKER_SRCS:%.c=$(BUILD)/%.o)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(WORKER_LIBS)

# Plugins: position-independent, only the entry point exported.
$(BUILD)/plugins/%.so: plugins/%.c include/massaged/routine.h $(FLAGS_FILE)
	@mkdir -p $(@D)
	$(CC) -std=c11 $(WARN) $(WERROR) $(CFLAGS) $(SANFLAGS) $(CPPFLAGS) \
		-Iinclude -fPIC -shared -fvisibility=hidden $(LDFLAGS) -o $@ $< -lm

$(BUILD)/tests/plugins/%.so: tests/plugins/%.c include/massaged/routine.h \
		$(wildcard tests/plugins/*.h) $(FLAGS_FILE)
	@mkdir -p $(@D)
	$(CC) -std=c11 $(WARN) $(CFLAGS) $(SANFLAGS) $(CPPFLAGS) -Iinclude -fPIC \
		-shared -fvisibility=hidden $(LDFLAGS) -o $@ $< -lm

$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(DAEMON_LIBS)
	$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(filter %.a,$^) \
		$(LDLIBS_ALL) $(shell $(PKG_CONFIG) --libs cmocka)

# The preview lives with its one user, the client.
$(BUILD)/tests/test_preview: $(BUILD)/client/preview.o
$(BUILD)/tests/unit/test_preview.o: ALL_CFLAGS += -iquote client
# The worker's filters, built as the worker builds them (libseccomp).
$(BUILD)/tests/test_sandbox: $(BUILD)/worker/sandbox.o
$(BUILD)/tests/test_sandbox: LDLIBS_ALL += $(WORKER_LIBS)
$(BUILD)/tests/unit/test_sandbox.o: ALL_CFLAGS += -iquote worker

-include $(shell find $(BUILD) -path $(BUILD)/deb -prune -o -name '*.d' -type f -print 2>/dev/null)

# --- dependencies -----------------------------------------------------------
BUILD_DEBS	:= build-essential pkg-config libevent-dev libmodbus-dev libinih-dev \
		   libjansson-dev libsystemd-dev libcmocka-dev libseccomp-dev libpq-dev \
		   libssl-dev
CHECK_DEBS	:= $(BUILD_DEBS) socat python3 python3-pytest chromium node:nodejs \
		   npm:npm systemd curl openssl logrotate postgresql
# The package test (dpkg-buildpackage, lintian) and promtool for the alert rules.
CHECK_DEBS	+= dpkg-dev debhelper lintian promtool:prometheus

deps-check:
	@./scripts/deps.sh $(BUILD_DEBS)

deps:
	@./scripts/deps.sh $(CHECK_DEBS)

# --- tests ------------------------------------------------------------------
CHECK_BUILD	:= build/check

check: deps
	$(MAKE) BUILD=$(CHECK_BUILD) SAN=1 OPT=-O1 tests
	./tests/run.sh $(CHECK_BUILD)

check-unit:
	$(MAKE) BUILD=$(CHECK_BUILD) SAN=1 OPT=-O1 tests
	./tests/run.sh $(CHECK_BUILD) unit

check-integration:
	$(MAKE) BUILD=$(CHECK_BUILD) SAN=1 OPT=-O1 tests
	./tests/run.sh $(CHECK_BUILD) integration

# --- running ----------------------------------------------------------------
# make demo [DEMO_PORT=8080] [DEMO_SIM_PORT=1502] [DEMO_SIM_CONTROL_PORT=1600]
# (or the same names in the environment): see scripts/demo.sh.
DEMO_PORT		?= 8080
DEMO_SIM_PORT		?= 1502
DEMO_SIM_CONTROL_PORT	?= 1600

demo: all
	DEMO_PORT=$(DEMO_PORT) DEMO_SIM_PORT=$(DEMO_SIM_PORT) \
	    DEMO_SIM_CONTROL_PORT=$(DEMO_SIM_CONTROL_PORT) \
	    ./scripts/demo.sh $(BUILD)

# make demo-spa [DEMO_PORT=8080] [DEMO_SIM_PORT=1502]
# [DEMO_SIM_CONTROL_PORT=1600] [DEMO_PG_PORT=15432]: two tables on one
# throwaway PostgreSQL (docs/store.md); Table 2 takes the next port of
# each. See scripts/demo-spa.sh.
DEMO_PG_PORT		?= 15432

demo-spa: all
	@./scripts/deps.sh postgresql
	DEMO_PORT=$(DEMO_PORT) DEMO_SIM_PORT=$(DEMO_SIM_PORT) \
	    DEMO_SIM_CONTROL_PORT=$(DEMO_SIM_CONTROL_PORT) \
	    DEMO_PG_PORT=$(DEMO_PG_PORT) ./scripts/demo-spa.sh $(BUILD)

clean:
	rm -rf build

# --- install ----------------------------------------------------------------
# make install [PREFIX=/usr/local] [DESTDIR=] [SYSCONFDIR=/etc]
#
# The binaries are built for the PREFIX given here (PLUGINDIR and CONFDIR
# are compiled in), so pass the same PREFIX to the build and to install.
# Configuration files are installed only where none exists: an edited file
# is never overwritten, the new version goes next to it as FILE.dist, and
# an example an admin deleted is not brought back (EXAMPLES_LIST names
# what was installed once). No token file is installed: see docs/deploy.md.
# make uninstall removes every file install put, but configuration an
# admin edited (and the edited file's .dist).
INSTALL		?= install
MAN_PAGES	:= docs/man/massaged.8 docs/man/massagectl.1 docs/man/massaged.ini.5 \
		   docs/man/massaged-sim.1
UNIT_FILES	:= systemd/massaged.service systemd/massaged@.service
CONFIG_FILES	:= $(wildcard config/*.ini config/profiles/*.ini config/programs/*.ini \
		   config/devices/*.ini)
PANEL_FILES	:= $(shell find panel -type f ! -name '.*' 2>/dev/null)
FLEET_FILES	:= contrib/prometheus/massaged-alerts.yml \
		   contrib/grafana/massaged-dashboard.json
# The units name /usr/sbin/massaged and /etc/massaged, the paths of a
# PREFIX=/usr install; other prefixes get theirs.
UNIT_SED	:= -e 's|/usr/sbin/massaged|$(SBINDIR)/massaged|g' \
		   -e 's|/etc/massaged|$(CONFDIR)|g'
# The .pc names its directories relative to $${prefix} where they are under
# PREFIX, so pkg-config --define-prefix and a sysroot work.
PC_REL		= $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))
PC_SED		:= -e 's|@PREFIX@|$(PREFIX)|g' \
		   -e 's|@INCLUDEDIR@|$(call PC_REL,$(INCLUDEDIR))|g' \
		   -e 's|@PLUGINDIR@|$(call PC_REL,$(PLUGINDIR))|g' \
		   -e 's|@VERSION@|$(VERSION)|g' \
		   -e 's|@LIBDIR@|$(call PC_REL,$(LIBDIR))|g'
# Every installed file but the configuration, relative to DESTDIR.
INSTALLED	:= $(SBINDIR)/massaged $(BINDIR)/massagectl $(BINDIR)/massaged-sim \
		   $(WORKERPATH) $(dir $(WORKERPATH))massaged-upgrade \
		   $(PLUGIN_SRCS:plugins/%.c=$(PLUGINDIR)/%.so) \
		   $(INCLUDEDIR)/massaged/routine.h $(INCLUDEDIR)/massaged/routine-test.h \
		   $(PKGCONFIGDIR)/massaged-routine.pc \
		   $(UNIT_FILES:systemd/%=$(UNITDIR)/%) \
		   $(SYSUSERSDIR)/massaged.conf $(TMPFILESDIR)/massaged.conf \
		   $(MANDIR)/man1/massagectl.1 $(MANDIR)/man1/massaged-sim.1 \
		   $(MANDIR)/man5/massaged.ini.5 $(MANDIR)/man8/massaged.8 \
		   $(PANEL_FILES:panel/%=$(PANELDIR)/%) \
		   $(FLEET_FILES:contrib/%=$(FLEETDIR)/%)

install: all
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
		$(DESTDIR)$(PLUGINDIR) $(DESTDIR)$(INCLUDEDIR)/massaged \
		$(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(PANELDIR) \
		$(DESTDIR)$(FLEETDIR)/prometheus $(DESTDIR)$(FLEETDIR)/grafana \
		$(DESTDIR)$(CONFDIR)/profiles $(DESTDIR)$(CONFDIR)/programs \
		$(DESTDIR)$(CONFDIR)/devices \
		$(DESTDIR)$(LOGROTATEDIR)
	$(INSTALL) -m 0755 $(BUILD)/massaged $(DESTDIR)$(SBINDIR)/massaged
	$(INSTALL) -m 0755 $(BUILD)/massagectl $(BUILD)/massaged-sim \
		$(DESTDIR)$(BINDIR)/
	$(INSTALL) -d $(DESTDIR)$(dir $(WORKERPATH))
	$(INSTALL) -m 0755 $(BUILD)/massaged-worker $(DESTDIR)$(WORKERPATH)
	$(INSTALL) -m 0755 systemd/massaged-upgrade \
		$(DESTDIR)$(dir $(WORKERPATH))massaged-upgrade
	$(if $(PLUGINS),$(INSTALL) -m 0644 $(PLUGINS) $(DESTDIR)$(PLUGINDIR)/)
	$(INSTALL) -m 0644 include/massaged/routine.h \
		include/massaged/routine-test.h $(DESTDIR)$(INCLUDEDIR)/massaged/
	sed $(PC_SED) include/massaged/massaged-routine.pc.in \
		>$(DESTDIR)$(PKGCONFIGDIR)/massaged-routine.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/massaged-routine.pc
	for f in $(UNIT_FILES); do \
		sed $(UNIT_SED) $$f >$(DESTDIR)$(UNITDIR)/$${f#systemd/} && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$${f#systemd/} || exit 1; \
	done
	$(INSTALL) -m 0644 systemd/massaged.sysusers \
		$(DESTDIR)$(SYSUSERSDIR)/massaged.conf
	sed $(UNIT_SED) systemd/massaged.tmpfiles \
		>$(DESTDIR)$(TMPFILESDIR)/massaged.conf
	chmod 0644 $(DESTDIR)$(TMPFILESDIR)/massaged.conf
	@d=$(DESTDIR)$(LOGROTATEDIR)/massaged; \
	$(INSTALL) -m 0644 systemd/massaged.logrotate $$d.new || exit 1; \
	if [ ! -e $$d ]; then mv $$d.new $$d; \
	elif cmp -s $$d.new $$d; then rm -f $$d.new; \
	else mv $$d.new $$d.dist; \
	echo "install: kept the edited $$d; the new version is $$d.dist"; fi
	$(INSTALL) -m 0644 docs/man/massagectl.1 docs/man/massaged-sim.1 \
		$(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 0644 docs/man/massaged.ini.5 $(DESTDIR)$(MANDIR)/man5/
	$(INSTALL) -m 0644 docs/man/massaged.8 $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -m 0644 contrib/prometheus/massaged-alerts.yml \
		$(DESTDIR)$(FLEETDIR)/prometheus/
	$(INSTALL) -m 0644 contrib/grafana/massaged-dashboard.json \
		$(DESTDIR)$(FLEETDIR)/grafana/
	@for f in $(PANEL_FILES); do \
		d=$(DESTDIR)$(PANELDIR)/$${f#panel/}; \
		$(INSTALL) -d $${d%/*} && $(INSTALL) -m 0644 $$f $$d || exit 1; \
	done
	@list=$(DESTDIR)$(EXAMPLES_LIST); [ -e $$list ] || : >$$list || exit 1; \
	for f in $(CONFIG_FILES); do \
		e=$${f#config/}; d=$(DESTDIR)$(CONFDIR)/$$e; \
		if [ ! -e $$d ] && grep -qxF "$$e" $$list; then \
			echo "install: not bringing back $$d, which was" \
			    "deleted (delete its line in $$list to get it" \
			    "back)"; \
		elif [ ! -e $$d ]; then \
			$(INSTALL) -m 0644 $$f $$d || exit 1; \
		elif cmp -s $$f $$d; then \
			:; \
		else \
			$(INSTALL) -m 0644 $$f $$d.dist || exit 1; \
			echo "install: kept the edited $$d; the new version is" \
			    "$$d.dist"; \
		fi; \
		grep -qxF "$$e" $$list || echo "$$e" >>$$list || exit 1; \
	done
	@echo "install: done. Next: a token file and the units, see" \
	    "docs/deploy.md (systemd-sysusers, systemd-tmpfiles --create," \
	    "systemctl daemon-reload)."

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	@for f in $(CONFIG_FILES); do \
		d=$(DESTDIR)$(CONFDIR)/$${f#config/}; \
		if [ -e $$d ] && ! cmp -s $$f $$d; then \
			echo "uninstall: kept the edited $$d"; \
		else \
			rm -f $$d $$d.dist; \
		fi; \
	done
	@d=$(DESTDIR)$(LOGROTATEDIR)/massaged; \
	if [ -e $$d ] && ! cmp -s systemd/massaged.logrotate $$d; then \
		echo "uninstall: kept the edited $$d"; \
	else \
		rm -f $$d $$d.dist; \
	fi
	rm -f $(DESTDIR)$(EXAMPLES_LIST)
	@for d in $(addprefix $(DESTDIR),$(sort $(dir $(PANEL_FILES:panel/%=$(PANELDIR)/%)))) \
		$(DESTDIR)$(PANELDIR) $(DESTDIR)$(FLEETDIR)/prometheus \
		$(DESTDIR)$(FLEETDIR)/grafana $(DESTDIR)$(FLEETDIR) \
		$(DESTDIR)$(PLUGINDIR) $(DESTDIR)$(LIBDIR)/massaged \
		$(DESTDIR)$(dir $(WORKERPATH)) \
		$(DESTDIR)$(INCLUDEDIR)/massaged $(DESTDIR)$(CONFDIR)/profiles \
		$(DESTDIR)$(CONFDIR)/programs $(DESTDIR)$(CONFDIR); do \
		[ ! -d $$d ] || rmdir --ignore-fail-on-non-empty $$d || exit 1; \
	done

# make deb: the Debian packages of debian/ (bookworm, debhelper 13), built
# from a copy of the tree so that nothing lands in it; the .debs go to
# DEB_OUT. DEB_BUILD_OPTIONS=nocheck skips the test suite inside.
DEB_OUT		?= build/deb
deb:
	@./scripts/deps.sh dpkg-dev debhelper $(BUILD_DEBS)
	rm -rf $(DEB_OUT) && mkdir -p $(DEB_OUT)/src
	tar -cf - --exclude=./build --exclude=./.git \
		--exclude=./tests/browser/node_modules . | tar -xf - -C $(DEB_OUT)/src
	cd $(DEB_OUT)/src && dpkg-buildpackage -b -us -uc -j2
	ls $(DEB_OUT)/*.deb

# Man pages: a lint pass (make check-man), nothing to build.
.PHONY: check-man
check-man:
	@for m in $(MAN_PAGES); do \
		LC_ALL=C.UTF-8 MANROFFSEQ= groff -man -Tutf8 -ww -z $$m 2>&1 | \
		    sed "s|^|$$m: |" | grep . && exit 1; \
	done; echo "man pages OK"

# --- benchmarks -------------------------------------------------------------
# make bench: an optimised build in build/bench, then massaged-bench starts the
# simulator and the daemon, measures, prints a table and rewrites
# docs/benchmarks.md. Never part of check. Needs socat for the RTU figure.
BENCH_BUILD	:= build/bench
BENCH_SRCS	:= $(wildcard tests/bench/*.c)
$(BENCH_SRCS:%.c=$(BUILD)/%.o): LAYER_INC := $(INC_ENGINE)

bench:
	$(MAKE) --no-print-directory BUILD=$(BENCH_BUILD) OPT=-O2 build \
		$(BENCH_BUILD)/massaged-bench
	$(BENCH_BUILD)/massaged-bench -b $(BENCH_BUILD) -o docs/benchmarks.md

# make bench-store: what the spa's shared store costs a table at 100 Hz
# (tests/bench/store_cpu.py: a throwaway PostgreSQL, docs/store.md).
bench-store:
	$(MAKE) --no-print-directory BUILD=$(BENCH_BUILD) OPT=-O2 build
	MASSAGED_BUILD=$(abspath $(BENCH_BUILD)) \
	MASSAGED_WORKER=$(abspath $(BENCH_BUILD))/massaged-worker \
		$(PYTHON) tests/bench/store_cpu.py

$(BUILD)/massaged-bench: $(BENCH_SRCS:%.c=$(BUILD)/%.o) $(LIBENGINE) $(LIBCORE) \
		$(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(shell $(PKG_CONFIG) --libs libmodbus) \
		$(CLIENT_LIBS) -lpthread -lm

# --- fuzzing ----------------------------------------------------------------
# make fuzz [FUZZ_SECONDS=60]
#           [FUZZ_TARGETS="table profile program rules device api"]
#           [FUZZ_MAX_LEN=32768]
#
# libFuzzer targets (tests/fuzz/fuzz_*.c) for the table, profile, program,
# rules and device description parsers and the API's request handling,
# built with clang and ASan+UBSan into build/fuzz: the daemon's sources
# but massaged.c with -fsanitize=fuzzer-no-link, the plugins likewise. Each target runs, one
# after the other, for FUZZ_SECONDS (-max_total_time) on its corpus in
# build/fuzz/corpus/TARGET, seeded from tests/fuzz/corpus/TARGET, with the
# crash regressions of tests/fuzz/regressions/TARGET as more seeds; then
# its corpus size and coverage (from libFuzzer's last "cov:" line) are
# printed. A crash stops with its input in build/fuzz/artifacts/TARGET/
# (move it to tests/fuzz/regressions/TARGET/ once fixed). Not part of
# check: tests/unit/test_fuzz_regressions.c replays the seeds and the
# regressions there. See docs/testing.md.
FUZZ_BUILD	:= build/fuzz
FUZZ_CC		?= clang
FUZZ_SECONDS	?= 60
FUZZ_MAX_LEN	?= 32768
FUZZ_TARGETS	?= table profile program rules device api
FUZZ_DEBS	:= clang libclang-rt-14-dev
FUZZ_SAN	:= -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		   -fno-omit-frame-pointer
FUZZ_CFLAGS	:= -std=c11 $(WARN) -g -O1 $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
		   -pthread
FUZZ_OBJS	:= $(COMMON_SRCS:%.c=$(FUZZ_BUILD)/%.o) \
		   $(CORE_SRCS:%.c=$(FUZZ_BUILD)/%.o) \
		   $(ENGINE_SRCS:%.c=$(FUZZ_BUILD)/%.o) \
		   $(API_SRCS:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_PLUGINS	:= $(PLUGIN_SRCS:plugins/%.c=$(FUZZ_BUILD)/plugins/%.so)
FUZZ_ALL	:= table profile program rules device api
FUZZ_BINS	:= $(FUZZ_ALL:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_ENV	:= ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: fuzz-build
fuzz:
	@./scripts/deps.sh $(BUILD_DEBS) $(FUZZ_DEBS)
	@$(MAKE) --no-print-directory fuzz-build
	@fail=0; for t in $(FUZZ_TARGETS); do \
		c=$(FUZZ_BUILD)/corpus/$$t; a=$(FUZZ_BUILD)/artifacts/$$t; \
		log=$(FUZZ_BUILD)/$$t.log; mkdir -p $$c $$a; \
		if [ -d tests/fuzz/corpus/$$t ]; then \
			cp -n tests/fuzz/corpus/$$t/* $$c/ 2>/dev/null; fi; \
		more=; [ -d tests/fuzz/regressions/$$t ] && \
			more=tests/fuzz/regressions/$$t; \
		dict=; [ -f tests/fuzz/$$t.dict ] && \
			dict=-dict=tests/fuzz/$$t.dict; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s (log $$log)"; \
		$(FUZZ_ENV) $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
		    -max_len=$(FUZZ_MAX_LEN) -timeout=30 -rss_limit_mb=2048 \
		    -print_final_stats=1 \
		    -artifact_prefix=$$a/ $$dict $$c $$more >$$log 2>&1; \
		rc=$$?; \
		done=$$(grep -aE '^#[0-9]+[[:space:]].* cov: ' $$log | tail -1); \
		cov=$$(echo "$$done" | sed -n 's/.* cov: \([0-9]*\).*/\1/p'); \
		ft=$$(echo "$$done" | sed -n 's/.* ft: \([0-9]*\).*/\1/p'); \
		corp=$$(echo "$$done" | sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p'); \
		execs=$$(echo "$$done" | sed -n 's/^#\([0-9]*\).*/\1/p'); \
		printf 'fuzz: %-8s cov: %s ft: %s corpus: %s (%s files in %s), %s runs\n' \
		    $$t "$${cov:-?}" "$${ft:-?}" "$${corp:-?}" \
		    "$$(ls $$c | wc -l)" $$c "$${execs:-?}"; \
		if [ $$rc -ne 0 ]; then \
			tail -n 60 $$log; \
			echo "fuzz: $$t FAILED (exit $$rc); the input is in $$a/"; \
			fail=1; \
		fi; \
	done; exit $$fail

# The plugins run in a worker there too (found next to the targets).
FUZZ_WORKER	:= $(FUZZ_BUILD)/massaged-worker

fuzz-build: $(FUZZ_BINS) $(FUZZ_PLUGINS) $(FUZZ_WORKER)

$(FUZZ_WORKER): $(WORKER_SRCS) include/massaged/worker.h worker/sandbox.h
	@mkdir -p $(@D)
	$(FUZZ_CC) -std=c11 $(WARN) -g -O1 $(FUZZ_SAN) $(CPPFLAGS_ALL) -o $@ \
		$(WORKER_SRCS) $(WORKER_LIBS)

$(FUZZ_OBJS): $(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(CPPFLAGS_ALL) $(INC_API) $(PC_CFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_ALL:%=$(FUZZ_BUILD)/tests/fuzz/fuzz_%.o): $(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(CPPFLAGS_ALL) $(INC_API) $(PC_CFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_BINS): $(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -pthread -rdynamic -o $@ $^ \
		$(PC_LIBS) -ldl -lm

$(FUZZ_PLUGINS): $(FUZZ_BUILD)/plugins/%.so: plugins/%.c include/massaged/routine.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Iinclude -fPIC -shared -fvisibility=hidden \
		-o $@ $< -lm

# --- soak -------------------------------------------------------------------
# make soak [SOAK_SECONDS=300] [SOAK_SEED=N]: a sanitizer build in build/soak,
# then tests/soak/soak.py runs short programs back to back under random
# faults and API actions and checks every invariant throughout (limits,
# ramp, vents, states, records); minutes, so not part of check. The last
# line is "N passed, N failed" (invariant checks).
SOAK_BUILD	:= build/soak
SOAK_SECONDS	?= 300

soak:
	$(MAKE) --no-print-directory BUILD=$(SOAK_BUILD) SAN=1 OPT=-O1 all
	ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
	UBSAN_OPTIONS=$${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	MASSAGED_BUILD=$(abspath $(SOAK_BUILD)) $(PYTHON) tests/soak/soak.py \
		--seconds $(SOAK_SECONDS) $(if $(SOAK_SEED),--seed $(SOAK_SEED))

# make soak-devices [SOAK_JOBS=8]: every shipped program from its first
# step to its last on each table of described devices (four WAGO couplers;
# four RS-485 sets behind their relays), the wire checks over each whole
# run (tests/integration/test_devices_programs.py), SOAK_JOBS cases side by
# side (tests/soak/devices.sh; logs in build/soak-devices); about 35 minutes
# with all eight at once, so not part of check.
SOAK_JOBS	?= 8

soak-devices:
	$(MAKE) --no-print-directory BUILD=$(SOAK_BUILD) SAN=1 OPT=-O1 tests
	PYTHON=$(PYTHON) sh tests/soak/devices.sh $(abspath $(SOAK_BUILD)) \
		$(SOAK_JOBS) $(abspath build/soak-devices)

# --- valgrind ---------------------------------------------------------------
# make check-valgrind: a debug build without sanitizers in build/valgrind,
# then the integration suite with every daemon run under valgrind
# (tests/integration/daemon.py prefixes $MASSAGED_WRAPPER to its argv). An
# error or a definite leak makes valgrind exit 99, which fails the test
# that stopped that daemon.
VALGRIND_BUILD	:= build/valgrind
VALGRIND	?= valgrind
VALGRIND_FLAGS	?= --error-exitcode=99 --leak-check=full \
		   --errors-for-leak-kinds=definite --show-leak-kinds=definite \
		   --num-callers=30

check-valgrind:
	$(MAKE) --no-print-directory BUILD=$(VALGRIND_BUILD) OPT=-O0 tests
	MASSAGED_WRAPPER="$(VALGRIND) $(VALGRIND_FLAGS)" \
		./tests/run.sh $(VALGRIND_BUILD) integration
