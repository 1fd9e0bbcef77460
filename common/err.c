/* norn_strerror(): one description for errno values and NORN_E* codes. */
#include <string.h>
#include "norn/errors.h"

const char *norn_strerror(int err)
{
	switch (err) {
	case 0:               return "success";
	case NORN_ECORRUPT:   return "corrupt data";
	case NORN_EVERSION:   return "unsupported version";
	case NORN_ECRC:       return "checksum mismatch";
	case NORN_EAUTH:      return "authentication failed";
	case NORN_ENOQUORUM:  return "no monitor quorum";
	case NORN_ESTALE:     return "stale map";
	case NORN_EFAILED:    return "store failed";
	case NORN_ENOTLEADER: return "not the leader";
	case NORN_ENOSPC:     return "no space";
	case NORN_EPERM:      return "permission denied by capabilities";
	case NORN_EAGAIN:     return "temporarily unavailable";
	}
	if (err < 0 && err > NORN_EBASE)
		return strerror(-err);   /* glibc strerror returns static strings for valid errnos */
	return "unknown error";
}
