/* pki.h: `mtlsshim pki`, a throwaway CA with its certificates and CRL in one directory. */
#ifndef MTLSSHIM_PKI_H
#define MTLSSHIM_PKI_H

/* Days a CA, and a leaf, is valid for without --days. */
#define PKI_CA_DAYS	3650
#define PKI_LEAF_DAYS	825	/* the CA/Browser Forum's old ceiling: clients accept it */
#define PKI_MAX_DAYS	36500

/*
 * argv[0] is "pki", argv[1] the command (init, issue, revoke). Returns the exit status:
 * 0, 64 for a usage error (one line on stderr), 1 for any other failure (one line on stderr).
 */
int	pki_main(int argc, char **argv);

#endif
