"""PrintBridge: the office print server's web app (upload, print, follow jobs, administer queues).

Kept empty: the root gateway and the PDF checker import submodules of this
package and must not load Flask with it."""
