/* peerenv.h: the verified peer in environment words, for a program started per connection. */
#ifndef MTLSSHIM_PEERENV_H
#define MTLSSHIM_PEERENV_H

/*
 * The variables a new image gets with a session on its standard input or
 * output (README "The peer's identity, for per-connection programs"):
 * PEERENV_PREFIX SUBJECT, ISSUER, SAN, URI, SERIAL, NOT_AFTER, FINGERPRINT,
 * ADDR, PORT, and PEERENV_RULE.
 */
#define PEERENV_PREFIX	"MTLSSHIM_PEER_"
#define PEERENV_RULE	"MTLSSHIM_RULE"
#define PEERENV_MAX	10
/* The longest value, escaped: a longer one is left out, never cut (logged as a warning). */
#define PEERENV_VALUE_MAX	16384

struct session;

/*
 * Fills vars[0..] with up to max malloc'd "NAME=value" strings describing
 * s's verified peer; returns how many.  0 when there is none to describe:
 * the handshake is not over, verification did not succeed, or the peer
 * showed no certificate.  -1 with errno ENOMEM, nothing left allocated.
 * Every value holds only A-Za-z0-9 and _-.,:/=@+ (every other byte, '%'
 * included, is %XX), so a shell can eval these strings; SAN is TYPE:value
 * joined by ',', a ',' within a value written %2C.  A value longer than
 * PEERENV_VALUE_MAX is left out.  Takes the session lock.
 */
int	peerenv_build(struct session *s, char **vars, int max);

#endif
