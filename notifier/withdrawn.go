package notifier

import (
	"errors"

	"sigill/vault"
)

// A notification of a withdrawn copy is not sent. vault.Revoke drops the
// recipient's job when no claim holds it; a claim taken before the
// withdrawal asks the vault (vault.Withdrawn: the recipient's record
// alone) before each send (after a job in doubt is reconciled, so a send
// that did happen is still recorded) and before it schedules a retry, and
// ends the job without an event: the "revoked" event already tells the
// story, and no retry follows.

// resultWithdrawn is the result label of a notification not sent because
// its copy was withdrawn.
const resultWithdrawn = "withdrawn"

// endIfWithdrawn ends a notify job whose link was withdrawn and tells
// whether it did.
func (n *Notifier) endIfWithdrawn(j vault.Job, provider string) bool {
	if j.Kind != vault.JobNotify {
		return false
	}
	withdrawn, err := n.v.Withdrawn(j)
	if err != nil {
		n.jobLog(j, provider).Error("notifier: cannot tell whether the link was withdrawn; sending", "err", err)
		return false
	}
	if !withdrawn {
		return false
	}
	log := n.jobLog(j, provider)
	n.count(provider, resultWithdrawn, 0)
	switch err := n.q.CompleteJob(j.ID, j.Lease, vault.Outcome{Job: &j}); {
	case errors.Is(err, vault.ErrNotFound), errors.Is(err, vault.ErrLeaseLost):
		log.Info("notifier: withdrawn by its sender; not sent (the job was another's by now)")
	case err != nil:
		log.Error("notifier: withdrawn by its sender; not sent, but the job could not be ended; it comes back after its lease", "err", err)
	default:
		log.Info("notifier: withdrawn by its sender; not sent")
	}
	return true
}
