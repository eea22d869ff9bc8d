"""The virtual-machine rung: a Debian kernel, an initramfs made from an image, a qemu boot.

``kernel`` fetches Debian's cloud kernel (the package, not installed); ``initramfs`` turns an
image's file system into a cpio archive the kernel unpacks as its root; ``boot`` runs qemu
(KVM when it really works, TCG otherwise) and reads back what the command printed.
"""
