#!/bin/sh
# Installed by sd-provision as @HOOK_PATH@; pam_exec runs it from @PAM_FILE@ for every session
# open and close. It starts the companion session of @DESKTOP_USER@ at login.
#
# It must never block or fail a login: the start is queued in the background with a time limit,
# this script returns at once and always exits 0, and the PAM line is `optional`.
# Stopping needs nothing here: secrets-dispatcher.target is bound to user@UID.service, which
# logind stops after the user's last session ends.
# pam_exec passes only the PAM environment, which may have no PATH.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
[ "$PAM_TYPE" = open_session ] || exit 0
[ "$PAM_USER" = "@DESKTOP_USER@" ] || exit 0

# The daemon and the console are named too, so a login also retries them if they had failed while
# the target stayed up (starting an active target alone would not).
start_companion() {
	if timeout -k 2 10 @SYSTEMCTL@ start --no-block secrets-dispatcher.target secrets-dispatcher-daemon.service secrets-dispatcher-console@@VT@.service >/dev/null 2>&1; then
		logger -t secrets-dispatcher-pam -p authpriv.info "queued secrets-dispatcher.target for @DESKTOP_USER@ (service ${PAM_SERVICE:-?}, tty ${PAM_TTY:-?})"
	else
		logger -t secrets-dispatcher-pam -p authpriv.warning "could not queue secrets-dispatcher.target for @DESKTOP_USER@; run: sd-provision --check"
	fi
}

start_companion </dev/null >/dev/null 2>&1 &
exit 0
