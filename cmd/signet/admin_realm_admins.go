package main

import (
	"context"

	"github.com/spf13/cobra"
)

// newAdminRealmAdminsCmd manages the users a realm names among its administrators: they
// sign in to that realm (the admin console, `signet admin login --realm`) and manage it
// only.
func newAdminRealmAdminsCmd(e *env, f *adminFlags) *cobra.Command {
	var realm string
	base := func() string { return "/realms/" + esc(realm) + "/admins" }
	list := &cobra.Command{Use: "list", Short: "List a realm's administrators", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := needRealm(realm); err != nil {
				return err
			}
			return f.run(e, c, func(ctx context.Context, ac *adminClient, p printer) error {
				return listed(p, userColumns)(ac.listAll(ctx, base(), nil, 0))
			})
		}}
	// change resolves USER (a username or an ID) and names it, or stops naming it, an
	// administrator of the realm.
	change := func(c *cobra.Command, user, method, msg string) error {
		if err := needRealm(realm); err != nil {
			return err
		}
		return f.run(e, c, func(ctx context.Context, ac *adminClient, p printer) error {
			id, err := resolveUser(ctx, ac, realm, user)
			if err != nil {
				return err
			}
			return done(e.stdout, user+msg+realm)(ac.call(ctx, method, base()+"/"+esc(id), nil))
		})
	}
	add := &cobra.Command{Use: "add USER", Short: "Name a user of the realm (by username or ID) an administrator of it", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return change(c, args[0], "PUT", " is an administrator of realm ")
		}}
	remove := &cobra.Command{Use: "remove USER", Short: "Stop naming a user an administrator of the realm (its tokens stop working for the admin API at once)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return change(c, args[0], "DELETE", " is no longer an administrator of realm ")
		}}
	g := adminGroup("realm-admins", "Manage the administrators of a realm (users of that realm who manage it only)", list, add, remove)
	g.Long = "A realm's administrators are users of that realm whom it names: they sign in to the\n" +
		"realm itself (the admin console at /admin/{realm}/console/, or `signet admin login --realm R`)\n" +
		"and manage that realm only. Every enabled user of the master realm is a platform\n" +
		"administrator instead, so the master realm names none. Adding an administrator twice, or\n" +
		"removing a user who is not one, changes nothing and is not an error."
	return realmFlag(g, &realm)
}
