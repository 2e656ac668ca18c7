/*
 * hostile_forge.c: step() finds the page it shares with the daemon
 * (include/massaged/worker.h), then never returns: it answers every
 * question through the page itself, on time, and forges every field of
 * the worker's half it can reach (the answer, the wait flag, the log
 * count, the daemon's wait flag), while it spins. The daemon must judge
 * it by what the kernel says (its CPU time, its state), not by the page.
 *
 * The page is found without a system call the sandbox refuses: the
 * worker keeps its address in its own data, so every page-aligned
 * pointer in the worker program's writable segments that lies outside
 * every loaded file, is mapped (a shared futex wake of nobody says
 * EFAULT if not, and futex() is allowed) and holds the question this
 * step() was given is it.
 */
#define FAULT_NAME		"hostile_forge"
#define FAULT_DESCRIPTION	"Test routine: answers through the page it forges, and spins."
#define FAULT_EXTRA		HOSTILE_NO_EXTRA
#include "hostile.h"

#include <sys/socket.h>
#include <sys/syscall.h>

#include <linux/futex.h>

#include <link.h>
#include <stdint.h>

#include <massaged/worker.h>

struct forge_find {
	const struct massaged_step_in	*in;
	size_t				 n;
	uintptr_t			 lo[64], hi[64];	/* loaded files */
	int				 nobj;
	struct wk_shared		*sh;
};

/* Where every loaded file's segments are. */
static int
forge_objects(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct forge_find	*f = arg;
	int			 i;

	for (i = 0; i < info->dlpi_phnum && f->nobj < 64; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		f->lo[f->nobj] = info->dlpi_addr + ph->p_vaddr;
		f->hi[f->nobj] = f->lo[f->nobj] + ph->p_memsz;
		f->nobj++;
	}
	return (0);
}

static int
forge_in_object(const struct forge_find *f, uintptr_t p)
{
	int	 i;

	for (i = 0; i < f->nobj; i++)
		if (p >= f->lo[i] && p < f->hi[i])
			return (1);
	return (0);
}

static int
forge_mapped(uintptr_t p)
{
	return (syscall(SYS_futex, (void *)p, FUTEX_WAKE, 0, NULL, NULL, 0) !=
	    -1 || errno != EFAULT);
}

/* The worker program (the first object): its writable data, scanned
 * (past a sanitizer's red zones: they are not ours to respect). */
__attribute__((no_sanitize_address)) static int
forge_scan(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct forge_find	*f = arg;
	int			 i;

	for (i = 0; i < info->dlpi_phnum && f->sh == NULL; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t	 *p, *end;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
			continue;
		p = (uintptr_t *)(info->dlpi_addr + ph->p_vaddr);
		end = (uintptr_t *)((char *)p + ph->p_memsz);
		for (; p < end && f->sh == NULL; p++) {
			struct wk_shared *c = (struct wk_shared *)*p;

			if (*p < 0x10000 || (*p & 0xfff) != 0 ||
			    *p >= (uintptr_t)1 << 47 || forge_in_object(f, *p) ||
			    !forge_mapped(*p))
				continue;
			if (c->q.n == f->n && c->q.t_s == f->in->t_s &&
			    c->q.dt_s == f->in->dt_s &&
			    c->q.intensity == f->in->intensity)
				f->sh = c;
		}
	}
	return (1);	/* the first object only */
}

static int
fault_misbehave(struct fault *f, const struct massaged_step_in *in,
    double *out)
{
	static struct forge_find	 ff;
	struct wk_shared		*sh;
	struct wk_hdr			 h;
	uint32_t			 seq, answered = 0;
	char				 buf[128];
	int				 n;
	size_t				 i;

	ff.in = in;
	ff.n = f->n;
	dl_iterate_phdr(forge_objects, &ff);
	dl_iterate_phdr(forge_scan, &ff);
	if ((sh = ff.sh) == NULL) {
		n = snprintf(buf, sizeof(buf), "hostile %s: no page found\n",
		    FAULT_NAME);
		(void)!write(STDERR_FILENO, buf, (size_t)n);
		return (MASSAGED_STEP_ERROR);
	}
	n = snprintf(buf, sizeof(buf), "hostile %s found the page\n",
	    FAULT_NAME);
	(void)!write(STDERR_FILENO, buf, (size_t)n);
	hostile_mark(FAULT_NAME);
	sh->a.logs += 1000;	/* says it sent log lines it never sent */
	for (;;) {
		seq = __atomic_load_n(&sh->q.seq, __ATOMIC_ACQUIRE);
		if (seq != answered) {
			for (i = 0; i < f->n; i++)
				sh->a.setpoint_kpa[i] = f->level_kpa;
			sh->a.rc = MASSAGED_STEP_RUNNING;
			sh->a.waits = 0;	/* never to be woken */
			sh->q.look_ns = 0;
			__atomic_store_n(&sh->a.seq, seq, __ATOMIC_SEQ_CST);
			if (__atomic_load_n(&sh->q.waits, __ATOMIC_SEQ_CST) ==
			    seq) {
				h.type = WK_STEPPED;
				h.seq = seq;
				(void)!send(WORKER_FD, &h, sizeof(h),
				    MSG_NOSIGNAL);
			}
			sh->q.waits = 0;
			answered = seq;
		}
	}
	return (MASSAGED_STEP_RUNNING);
}
