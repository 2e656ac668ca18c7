/*
 * preview.h: massagectl preview (offline program preview), in preview.c.
 */
#ifndef CLIENT_PREVIEW_H
#define CLIENT_PREVIEW_H

/* argv[0] is "preview"; returns the exit code of massagectl. */
int	preview_main(int argc, char **argv);

#endif
