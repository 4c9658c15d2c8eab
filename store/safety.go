package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// ErrUnsafe: a directory the store writes in could be changed by another
// user, who could then swap the store's files (the spool, raw copies) for
// symbolic links to files of their choice, or such a link is there (issue
// 13 item 8).
var ErrUnsafe = errors.New("unsafe permissions")

// CheckDir refuses a directory another user could write into: one writable by
// group or others, or owned by a user other than this process's effective
// user (or root). The store's directory must be the daemon's own, as systemd's
// StateDirectory makes it.
func CheckDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("store directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("store directory %s: %w: not a directory", dir, ErrUnsafe)
	}
	return checkOwnerMode(dir, fi)
}

func checkOwnerMode(path string, fi os.FileInfo) error {
	if m := fi.Mode().Perm(); m&0o022 != 0 {
		return fmt.Errorf("%s: %w: writable by other users (mode %04o); another user could replace the store's files with links (chmod go-w %s)", path, ErrUnsafe, m, path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := int(st.Uid); uid != os.Geteuid() && uid != 0 {
			return fmt.Errorf("%s: %w: owned by uid %d, not by this process's user (uid %d)", path, ErrUnsafe, uid, os.Geteuid())
		}
	}
	return nil
}

// PrivateDir makes dir, a directory of the store's own (the spool, the raw
// copies), or checks the one there: it must be a real directory, not a
// symbolic link, owned by this process's user; its mode is set to 0700 on the
// directory itself (opened without following links), never through a link.
func PrivateDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("directory %s: %w", dir, err)
	}
	f, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if fi, lerr := os.Lstat(dir); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("directory %s: %w: it is a symbolic link (remove it; supportd makes its own)", dir, ErrUnsafe)
		}
		return fmt.Errorf("directory %s: %w", dir, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("directory %s: %w", dir, err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("directory %s: %w: owned by uid %d, not by this process's user (uid %d)", dir, ErrUnsafe, st.Uid, os.Geteuid())
	}
	if fi.Mode().Perm() != 0o700 {
		if err := f.Chmod(0o700); err != nil {
			return fmt.Errorf("directory %s: %w", dir, err)
		}
	}
	return nil
}

// openNoFollow opens path for reading, refusing a symbolic link, and checks
// it is a regular file owned by this process's user.
func openNoFollow(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%s: %w: a symbolic link", path, ErrUnsafe)
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		st, ok := fi.Sys().(*syscall.Stat_t)
		switch {
		case !fi.Mode().IsRegular():
			err = fmt.Errorf("%s: %w: not a regular file", path, ErrUnsafe)
		case ok && int(st.Uid) != os.Geteuid():
			err = fmt.Errorf("%s: %w: owned by uid %d", path, ErrUnsafe, st.Uid)
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
