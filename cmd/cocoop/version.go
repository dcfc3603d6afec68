package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

func init() {
	register("version", &command{
		summary: "print the module version, VCS revision and Go version of this binary",
		usage:   "",
		help: `Prints the version of the gocoop module this binary was built from (a tag
for "go install ...@version", "(devel)" for a build in a checkout), the VCS
revision and time with "(modified)" when the work tree had uncommitted
changes, and the Go version and platform. The values come from the build
information Go embeds in the binary (runtime/debug.ReadBuildInfo); "go run"
and "go test" builds carry no VCS revision.

Example:
  cocoop version`,
		run: runVersion,
	})
}

func runVersion(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprint(stdout, versionText(bi))
	return nil
}

// versionText formats the build information (nil when the binary has
// none): module version, VCS revision, Go version.
func versionText(bi *debug.BuildInfo) string {
	module, version := "github.com/gocoop/gocoop", "unknown"
	revision, when, modified := "unknown", "", ""
	goVersion := runtime.Version()
	if bi != nil {
		if bi.Main.Path != "" {
			module = bi.Main.Path
		}
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				when = " " + s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = " (modified)"
				}
			}
		}
	}
	return fmt.Sprintf("cocoop %s (%s)\n  revision %s%s%s\n  %s %s/%s\n",
		version, module, revision, when, modified, goVersion, runtime.GOOS, runtime.GOARCH)
}
