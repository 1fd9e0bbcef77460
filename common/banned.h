/* Included into every translation unit by the build: functions that make
 * buffer overflows easy are poisoned so a use fails to compile. Use
 * snprintf, memcpy with an explicit length, or the encode module. */
#ifndef NORN_BANNED_H
#define NORN_BANNED_H
#if defined(__GNUC__) && !defined(NORN_ALLOW_BANNED)
#include <string.h>
#include <stdio.h>
#pragma GCC poison strcpy strcat sprintf vsprintf gets
#endif
#endif
