package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tarn-lake/tarn/internal/storage"
)

func mbCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "mb s3://BUCKET",
		Short:   "Make a bucket",
		Example: `  tarn mb s3://lake`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := parseBucketURI(args[0])
			if err != nil {
				return err
			}
			return g.objects(cmd, func(ctx context.Context, store storage.ObjectStore) error {
				if err := store.CreateBucket(ctx, u.Bucket); err != nil {
					return fmt.Errorf("cannot make bucket %s: %w", args[0], err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "make_bucket: %s\n", u.Bucket)
				return nil
			})
		},
	}
}

func parseBucketURI(s string) (storage.URI, error) {
	if !strings.Contains(strings.TrimPrefix(s, "s3://"), "/") {
		s += "/"
	}
	return storage.ParseURI(s)
}

func lsCmd(g *globals) *cobra.Command {
	var recursive, human bool
	cmd := &cobra.Command{
		Use:   "ls [s3://BUCKET[/PREFIX]]",
		Short: "List buckets, or objects and prefixes under a prefix",
		Example: `  tarn ls
  tarn ls s3://lake/raw/
  tarn ls --recursive --human-readable s3://lake/raw/orders/`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.objects(cmd, func(ctx context.Context, store storage.ObjectStore) error {
				out := cmd.OutOrStdout()
				size := func(n int64) string {
					if human {
						return humanBytes(n)
					}
					return fmt.Sprint(n)
				}
				if len(args) == 0 || args[0] == "s3://" {
					bs, err := store.ListBuckets(ctx)
					if err != nil {
						return err
					}
					for _, b := range bs {
						fmt.Fprintf(out, "%s %s\n", b.CreatedAt.Local().Format("2006-01-02 15:04:05"), b.Name)
					}
					return nil
				}
				u, err := parseBucketURI(args[0])
				if err != nil {
					return err
				}
				opts := storage.ListOptions{Prefix: u.Key, Delimiter: "/"}
				if recursive {
					opts.Delimiter = ""
				}
				for {
					res, err := store.List(ctx, u.Bucket, opts)
					if err != nil {
						return fmt.Errorf("cannot list %s: %w", args[0], err)
					}
					for _, p := range res.CommonPrefixes {
						fmt.Fprintf(out, "%30s PRE %s\n", "", strings.TrimPrefix(p, prefixDir(u.Key, recursive)))
					}
					for _, o := range res.Objects {
						name := o.Key
						if !recursive {
							name = strings.TrimPrefix(o.Key, prefixDir(u.Key, false))
						}
						fmt.Fprintf(out, "%s %10s %s\n", o.LastModified.Local().Format("2006-01-02 15:04:05"), size(o.Size), name)
					}
					if !res.IsTruncated {
						return nil
					}
					opts.ContinuationToken = res.NextContinuationToken
				}
			})
		},
	}
	cmd.Flags().BoolVar(&recursive, "recursive", false, "list every object under the prefix")
	cmd.Flags().BoolVar(&human, "human-readable", false, "sizes in KiB, MiB, ...")
	return cmd
}

// prefixDir is the part of a listing prefix that names are shown relative to.
func prefixDir(prefix string, recursive bool) string {
	if recursive {
		return ""
	}
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		return prefix[:i+1]
	}
	return ""
}

func cpCmd(g *globals) *cobra.Command {
	var recursive bool
	cmd := &cobra.Command{
		Use:   "cp SRC DST",
		Short: "Copy files and objects: local to s3://, s3:// to local, s3:// to s3://",
		Example: `  tarn cp sales.csv s3://lake/raw/sales/
  tarn cp --recursive ./exports/ s3://lake/raw/orders/
  tarn cp s3://lake/curated/sales/ ./sales/ --recursive`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.objects(cmd, func(ctx context.Context, store storage.ObjectStore) error {
				c := &copier{store: store, out: cmd.OutOrStdout(), prog: newProgress(), start: time.Now()}
				err := c.copy(ctx, args[0], args[1], recursive)
				c.prog.done()
				fmt.Fprintf(cmd.ErrOrStderr(), "copied %d files, %s in %s\n", c.files, humanBytes(c.bytes), time.Since(c.start).Round(time.Millisecond))
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&recursive, "recursive", false, "copy a folder or prefix and everything below it")
	return cmd
}

type copier struct {
	store storage.ObjectStore
	out   io.Writer
	prog  *progress
	start time.Time
	files int
	bytes int64
}

func isS3(s string) bool { return strings.HasPrefix(s, "s3://") }

func (c *copier) copy(ctx context.Context, src, dst string, recursive bool) error {
	switch {
	case !isS3(src) && isS3(dst):
		du, err := parseBucketURI(dst)
		if err != nil {
			return err
		}
		st, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("cannot copy %s: %w", src, err)
		}
		if st.IsDir() {
			if !recursive {
				return fmt.Errorf("cannot copy %s: it is a folder (use --recursive)", src)
			}
			return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(src, p)
				return c.upload(ctx, p, du.Dir().Join(filepath.ToSlash(rel)))
			})
		}
		if du.Key == "" || strings.HasSuffix(du.Key, "/") {
			du = du.Join(filepath.Base(src))
		}
		return c.upload(ctx, src, du)
	case isS3(src) && !isS3(dst):
		su, err := parseBucketURI(src)
		if err != nil {
			return err
		}
		if recursive {
			prefix := su.Dir().Key
			for o, err := range storage.Walk(ctx, c.store, su.Bucket, prefix) {
				if err != nil {
					return err
				}
				if strings.HasSuffix(o.Key, "/") {
					continue
				}
				if err := c.download(ctx, o, filepath.Join(dst, filepath.FromSlash(strings.TrimPrefix(o.Key, prefix)))); err != nil {
					return err
				}
			}
			return nil
		}
		o, err := c.store.Head(ctx, su.Bucket, su.Key)
		if err != nil {
			return fmt.Errorf("cannot copy %s: %w", src, err)
		}
		target := dst
		if st, err := os.Stat(dst); (err == nil && st.IsDir()) || strings.HasSuffix(dst, string(os.PathSeparator)) {
			target = filepath.Join(dst, filepath.Base(su.Key))
		}
		return c.download(ctx, o, target)
	case isS3(src) && isS3(dst):
		su, err := parseBucketURI(src)
		if err != nil {
			return err
		}
		du, err := parseBucketURI(dst)
		if err != nil {
			return err
		}
		if recursive {
			prefix := su.Dir().Key
			for o, err := range storage.Walk(ctx, c.store, su.Bucket, prefix) {
				if err != nil {
					return err
				}
				target := du.Dir().Join(strings.TrimPrefix(o.Key, prefix))
				if _, err := c.store.Copy(ctx, su.Bucket, o.Key, target.Bucket, target.Key); err != nil {
					return err
				}
				c.files++
				c.bytes += o.Size
				fmt.Fprintf(c.out, "copy: %s to %s\n", o.URI(), target)
			}
			return nil
		}
		if du.Key == "" || strings.HasSuffix(du.Key, "/") {
			du = du.Join(filepath.Base(su.Key))
		}
		o, err := c.store.Copy(ctx, su.Bucket, su.Key, du.Bucket, du.Key)
		if err != nil {
			return fmt.Errorf("cannot copy %s to %s: %w", src, dst, err)
		}
		c.files++
		c.bytes += o.Size
		fmt.Fprintf(c.out, "copy: %s to %s\n", src, du)
		return nil
	}
	return errors.New("cannot copy: one of SRC and DST must be an s3:// URI (local copies are cp's job)")
}

func (c *copier) upload(ctx context.Context, path string, u storage.URI) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot upload %s: %w", path, err)
	}
	defer f.Close()
	ctype := mime.TypeByExtension(filepath.Ext(path))
	o, err := c.store.Put(ctx, u.Bucket, u.Key, &countingReader{r: f, onRead: func(n int) {
		c.bytes += int64(n)
		c.prog.update("uploading %s: %s", u, humanBytes(c.bytes))
	}}, storage.PutOptions{ContentType: ctype})
	if err != nil {
		return fmt.Errorf("cannot upload %s to %s: %w", path, u, err)
	}
	c.files++
	c.prog.done()
	fmt.Fprintf(c.out, "upload: %s to %s (%d bytes, etag %s)\n", path, u, o.Size, o.ETag)
	return nil
}

func (c *copier) download(ctx context.Context, o storage.ObjectInfo, path string) error {
	rc, _, err := c.store.Get(ctx, o.Bucket, o.Key, nil)
	if err != nil {
		return fmt.Errorf("cannot download %s: %w", o.URI(), err)
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tarn-tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("cannot download %s: %w", o.URI(), err)
	}
	n, err := io.Copy(f, rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cannot download %s to %s: %w", o.URI(), path, err)
	}
	c.files++
	c.bytes += n
	fmt.Fprintf(c.out, "download: %s to %s\n", o.URI(), path)
	return nil
}

type countingReader struct {
	r      io.Reader
	onRead func(int)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.onRead(n)
	}
	return n, err
}

func rmCmd(g *globals) *cobra.Command {
	var recursive bool
	cmd := &cobra.Command{
		Use:   "rm s3://BUCKET/KEY",
		Short: "Delete an object, or every object under a prefix with --recursive",
		Example: `  tarn rm s3://lake/raw/sales/sales.csv
  tarn rm --recursive s3://lake/staging/`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := parseBucketURI(args[0])
			if err != nil {
				return err
			}
			return g.objects(cmd, func(ctx context.Context, store storage.ObjectStore) error {
				if !recursive {
					if u.Key == "" {
						return fmt.Errorf("cannot delete %s: give a key, or --recursive for a prefix", args[0])
					}
					if _, err := store.Head(ctx, u.Bucket, u.Key); err != nil {
						return fmt.Errorf("cannot delete %s: %w", args[0], err)
					}
					if err := store.Delete(ctx, u.Bucket, u.Key); err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "delete: %s\n", args[0])
					return nil
				}
				var keys []string
				for o, err := range storage.Walk(ctx, store, u.Bucket, u.Key) {
					if err != nil {
						return err
					}
					keys = append(keys, o.Key)
				}
				// Deepest first, so folder markers go after their contents.
				for i := len(keys) - 1; i >= 0; i-- {
					if err := store.Delete(ctx, u.Bucket, keys[i]); err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "delete: s3://%s/%s\n", u.Bucket, keys[i])
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&recursive, "recursive", false, "delete every object under the prefix")
	return cmd
}
