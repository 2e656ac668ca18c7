/*
 * store-sql.c: the store's migrations, sql/NNNN_*.sql, compiled into the
 * daemon (.incbin, a NUL after each), so that a build knows its schema
 * version and cannot be run against files of another. A new migration is
 * a new file in sql/, numbered next, and a line in each list below (the
 * Makefile rebuilds this file when sql/ changes).
 */
#include "store.h"

#define STORE_SQL(sym, file)						\
	__asm__(".pushsection .rodata\n"				\
	    ".hidden " #sym "\n"					\
	    ".globl " #sym "\n"						\
	    #sym ":\n"							\
	    ".incbin \"" file "\"\n"					\
	    ".byte 0\n"							\
	    ".popsection\n")

STORE_SQL(store_sql_0001, "sql/0001_init.sql");
STORE_SQL(store_sql_0002, "sql/0002_tables.sql");

extern const char store_sql_0001[];
extern const char store_sql_0002[];

const struct store_migration store_migrations[] = {
	{ "0001_init.sql",	store_sql_0001 },
	{ "0002_tables.sql",	store_sql_0002 },
};

const int store_nmigrations = sizeof(store_migrations) /
    sizeof(store_migrations[0]);
