# massaged: one non-recursive GNU Makefile.
#
#   make            build the daemon, simulator, client and plugins
#   make check      build with ASan+UBSan and run every test
#   make demo       build, then run the simulator and the daemon on the demo table
#   make install    install under $(DESTDIR)$(PREFIX)
#   make bench      benchmarks (optimised build), not part of check
#   make deps       install missing Debian packages (as root), else print the line

VERSION		:= 0.1.0
BUILD		?= build
PREFIX		?= /usr/local
SYSCONFDIR	?= /etc
LOCALSTATEDIR	?= /var
BINDIR		?= $(PREFIX)/bin
SBINDIR		?= $(PREFIX)/sbin
LIBDIR		?= $(PREFIX)/lib
PLUGINDIR	?= $(LIBDIR)/massaged/routines
INCLUDEDIR	?= $(PREFIX)/include
DATADIR		?= $(PREFIX)/share
MANDIR		?= $(DATADIR)/man
PKGCONFIGDIR	?= $(LIBDIR)/pkgconfig
UNITDIR		?= $(LIBDIR)/systemd/system
SYSUSERSDIR	?= $(LIBDIR)/sysusers.d
TMPFILESDIR	?= $(LIBDIR)/tmpfiles.d
CONFDIR		?= $(SYSCONFDIR)/massaged
PYTHON		?= /usr/bin/python3

CC		?= cc
PKG_CONFIG	?= pkg-config
LIBS_PC		:= libevent libevent_pthreads libmodbus inih jansson
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
CPPFLAGS_ALL	:= -Iinclude -Idaemon -D_GNU_SOURCE -DMASSAGED_VERSION='"$(VERSION)"' \
		   -DPLUGINDIR='"$(PLUGINDIR)"' -DCONFDIR='"$(CONFDIR)"' \
		   $(SYSTEMD_CFLAGS) $(CPPFLAGS)
ALL_CFLAGS	:= -std=c11 $(WARN) $(WERROR) $(CFLAGS) $(SANFLAGS) -pthread \
		   $(CPPFLAGS_ALL) $(PC_CFLAGS)
ALL_LDFLAGS	:= $(LDFLAGS) $(SANFLAGS) -pthread -rdynamic
LDLIBS_ALL	:= $(PC_LIBS) -ldl -lm

# Sources: every file in these folders takes part, so a new subsystem or
# test needs no Makefile edit.
DAEMON_SRCS	:= $(filter-out daemon/massaged.c,$(wildcard daemon/*.c))
DAEMON_OBJS	:= $(DAEMON_SRCS:%.c=$(BUILD)/%.o)
SIM_SRCS	:= $(wildcard tests/sim/*.c)
CLIENT_SRCS	:= $(wildcard client/*.c)
PLUGIN_SRCS	:= $(wildcard plugins/*.c)
PLUGINS		:= $(PLUGIN_SRCS:plugins/%.c=$(BUILD)/plugins/%.so)
UNIT_SRCS	:= $(wildcard tests/unit/test_*.c)
UNIT_BINS	:= $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TESTPLUG_SRCS	:= $(wildcard tests/plugins/*.c)
TESTPLUGS	:= $(TESTPLUG_SRCS:tests/plugins/%.c=$(BUILD)/tests/plugins/%.so)
LIBMASSAGED	:= $(BUILD)/libmassaged.a

# Objects depend on the flags they were built with, so switching SAN or OPT
# in one build directory rebuilds instead of mixing.
FLAGS_NOW	:= $(ALL_CFLAGS) $(ALL_LDFLAGS)
FLAGS_FILE	:= $(BUILD)/.flags
ifneq ($(FLAGS_NOW),$(file <$(FLAGS_FILE)))
$(shell mkdir -p $(BUILD))
$(file >$(FLAGS_FILE),$(FLAGS_NOW))
endif

PROGS		:= $(BUILD)/massaged $(BUILD)/massaged-sim $(BUILD)/massagectl


.PHONY: all build tests check check-unit check-integration check-browser demo deps \
	deps-check install bench soak fuzz check-valgrind clean
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
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(LIBMASSAGED): $(DAEMON_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/massaged: $(BUILD)/daemon/massaged.o $(LIBMASSAGED)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/massaged-sim: $(SIM_SRCS:%.c=$(BUILD)/%.o) $(LIBMASSAGED)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/massagectl: $(CLIENT_SRCS:%.c=$(BUILD)/%.o) $(LIBMASSAGED)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

# Plugins: position-independent, only the entry point exported.
$(BUILD)/plugins/%.so: plugins/%.c include/massaged/routine.h $(FLAGS_FILE)
	@mkdir -p $(@D)
	$(CC) -std=c11 $(WARN) $(WERROR) $(CFLAGS) $(SANFLAGS) -Iinclude -fPIC -shared \
		-fvisibility=hidden -o $@ $< -lm

$(BUILD)/tests/plugins/%.so: tests/plugins/%.c include/massaged/routine.h $(FLAGS_FILE)
	@mkdir -p $(@D)
	$(CC) -std=c11 $(WARN) $(CFLAGS) $(SANFLAGS) -Iinclude -fPIC -shared \
		-fvisibility=hidden -o $@ $< -lm

$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(LIBMASSAGED)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS_ALL) $(shell $(PKG_CONFIG) --libs cmocka)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# --- dependencies -----------------------------------------------------------
BUILD_DEBS	:= build-essential pkg-config libevent-dev libmodbus-dev libinih-dev \
		   libjansson-dev libsystemd-dev libcmocka-dev
CHECK_DEBS	:= $(BUILD_DEBS) socat python3 python3-pytest chromium nodejs npm \
		   systemd

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
demo: all
	./scripts/demo.sh $(BUILD)

clean:
	rm -rf build
